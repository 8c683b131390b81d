#include "binding/args.h"

#include <cmath>

#include "binding/errors.h"

namespace vpn {

namespace {
size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 1;
  }
}
}  // namespace

ByteSpan BytesArg(napi_env env, napi_value v, const char* what) {
  bool is = false;
  void* data = nullptr;
  size_t len = 0;
  napi_value ab = nullptr;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_get_typedarray_info(env, v, &type, &count, &data, &ab, &offset);
    len = count * ElementSize(type);
  } else if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, v, &data, &len);
    ab = v;
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t offset;
    napi_get_dataview_info(env, v, &len, &data, &ab, &offset);
  } else {
    throw CodedTypeError(
        Napi::Env(env), "ERR_INVALID_ARG_TYPE",
        std::string("A ") + what +
            " must be an ArrayBuffer, a typed array or a DataView.");
  }
  if (len == 0 && ab != nullptr) {
    bool detached = false;
    napi_is_detached_arraybuffer(env, ab, &detached);
    if (detached)
      throw CodedTypeError(Napi::Env(env), "ERR_BUFFER_DETACHED",
                           std::string("The ") + what +
                               "'s ArrayBuffer is detached (it was "
                               "transferred).");
  }
  return {static_cast<const uint8_t*>(data), len};
}

int FdArg(Napi::Env env, Napi::Value v, const char* call) {
  if (!v.IsNumber())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(call) + ": fd must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 0x7fffffff) || d != static_cast<int>(d))
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          std::string(call) + ": fd must be an integer from 0");
  return static_cast<int>(d);
}

Napi::Object ObjectArg(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 1 || !info[0].IsObject())
    throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", usage);
  return info[0].As<Napi::Object>();
}

int64_t IntArg(Napi::Env env, Napi::Value v, const char* name, int64_t lo,
               int64_t hi) {
  if (!v.IsNumber())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) ||
      d != std::floor(d))
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          std::string(name) + " must be an integer from " +
                              std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<int64_t>(d);
}

int64_t IntProp(Napi::Env env, Napi::Object o, const char* key, int64_t lo,
                int64_t hi, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  return IntArg(env, v, key, lo, hi);
}

int BoolProp(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return -1;
  if (!v.IsBoolean())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value() ? 1 : 0;
}

void* TypedArg(napi_env env, napi_value v, napi_typedarray_type want,
               size_t* length, const char* what) {
  napi_typedarray_type type;
  void* data = nullptr;
  napi_value ab;
  size_t offset;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, length, &data, &ab, &offset) !=
          napi_ok ||
      type != want) {
    throw CodedTypeError(Napi::Env(env), "ERR_INVALID_ARG_TYPE",
                         std::string("The ") + what);
  }
  return data;
}

napi_status ReadAscii(napi_env env, napi_value v, char* buf, size_t* n) {
  char16_t wide[kMaxText];
  napi_status st = napi_get_value_string_utf16(env, v, wide, kMaxText, n);
  if (st != napi_ok) return st;
  if (*n >= kMaxText) *n = kMaxText - 1;  // never: the call keeps room for NUL
  for (size_t i = 0; i < *n; ++i) {
    buf[i] = wide[i] < 0x80 ? static_cast<char>(wide[i]) : '\x7f';
  }
  buf[*n] = '\0';
  return napi_ok;
}

std::string Quote(const char* s, size_t n) {
  std::string out = "\"";
  out.append(s, n > 60 ? 60 : n);
  if (n > 60) out += "...";
  out += "\"";
  return out;
}

route::ParsedAddress IpArg(Napi::Env env, Napi::Value v, const char* name,
                           int family) {
  if (!v.IsString())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(name) + " must be a string");
  char buf[kMaxText];
  size_t n = 0;
  route::ParsedAddress a;
  bool ok = ReadAscii(env, v, buf, &n) == napi_ok && n < kMaxText - 1 &&
            route::ParseAddress(buf, n, &a) == route::ParseStatus::kOk &&
            (family == 0 || (family == 6) == a.v6);
  if (!ok) {
    std::string text = v.As<Napi::String>().Utf8Value();
    throw CodedTypeError(env, "ERR_INVALID_IP",
                         std::string(name) + " is not a valid " +
                             (family == 4   ? "IPv4"
                              : family == 6 ? "IPv6"
                                            : "IP") +
                             " address: " + Quote(text.data(), text.size()));
  }
  return a;
}

}  // namespace vpn
