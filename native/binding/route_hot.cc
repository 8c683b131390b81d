// The route table's hot methods, in raw N-API, as functions of each
// instance that carry the instance's C++ object in their data: one
// napi_get_cb_info and no napi_unwrap (a private-property lookup, ~800
// instructions, more than the rest of a lookup() call), no wrapper objects.
// Through node-addon-api's ObjectWrap and TypedArray helpers a call cost ~3x
// more (lookupBatch4 of one address: ~440 ns vs ~150 ns).
#include <cmath>

#include "binding/args.h"
#include "binding/errors.h"
#include "binding/route_binding.h"

namespace vpn {
namespace {

using Handle = RouteTableWrap::Handle;

// The one prologue: the arguments and the live table (Sync'ed), then body;
// a thrown Napi::Error becomes a pending JS exception (C++ exceptions must
// not cross a raw napi_callback).
template <size_t N, typename F>
napi_value Hot(napi_env env, napi_callback_info cb, F&& body) {
  try {
    size_t argc = N;
    napi_value argv[N];
    void* data = nullptr;
    if (napi_get_cb_info(env, cb, &argc, argv, nullptr, &data) != napi_ok)
      return nullptr;
    for (size_t i = argc; i < N; ++i) napi_get_undefined(env, &argv[i]);
    RouteTableWrap* w = static_cast<Handle*>(data)->wrap;
    if (w == nullptr)
      throw CodedError(Napi::Env(env), "ERR_INVALID_STATE",
                       "This RouteTable has been released");
    w->Sync();
    return body(w->table(), argv);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    Napi::Error::New(Napi::Env(env), "out of memory")
        .ThrowAsJavaScriptException();
  }
  return nullptr;
}

napi_value Number(napi_env env, double v) {
  napi_value r = nullptr;
  napi_create_double(env, v, &r);
  return r;
}

napi_value Int32(napi_env env, int32_t v) {
  napi_value r = nullptr;
  napi_create_int32(env, v, &r);
  return r;
}

napi_value Lookup(napi_env env, napi_callback_info cb) {
  return Hot<1>(env, cb, [&](route::RouteTable* t, napi_value* argv) {
    LookupKey a = AddressArg(env, argv[0]);
    return Int32(env, a.v6 ? t->Lookup6(a.a6) : t->Lookup4(a.a4));
  });
}

// The fast path for an IPv4 number (the JS side has checked it).
napi_value Lookup4(napi_env env, napi_callback_info cb) {
  return Hot<1>(env, cb, [&](route::RouteTable* t, napi_value* argv) {
    uint32_t a = 0;
    napi_get_value_uint32(env, argv[0], &a);
    return Int32(env, t->Lookup4(a));
  });
}

napi_value LookupBatch4(napi_env env, napi_callback_info cb) {
  return Hot<2>(env, cb, [&](route::RouteTable* t, napi_value* argv) {
    size_t n = 0, m = 0;
    auto* a =
        static_cast<uint32_t*>(TypedArg(env, argv[0], napi_uint32_array, &n,
                                        "addresses must be a Uint32Array"));
    auto* out = static_cast<int32_t*>(TypedArg(
        env, argv[1], napi_int32_array, &m, "out must be an Int32Array"));
    if (m < n)
      throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                            "out is shorter than the addresses");
    t->LookupBatch4(a, out, n);
    return Number(env, static_cast<double>(n));
  });
}

napi_value LookupBatch6(napi_env env, napi_callback_info cb) {
  return Hot<2>(env, cb, [&](route::RouteTable* t, napi_value* argv) {
    size_t bytes = 0, m = 0;
    auto* a = static_cast<uint8_t*>(
        TypedArg(env, argv[0], napi_uint8_array, &bytes,
                 "addresses must be a Uint8Array of 16-byte addresses"));
    auto* out = static_cast<int32_t*>(TypedArg(
        env, argv[1], napi_int32_array, &m, "out must be an Int32Array"));
    if (bytes % 16 != 0)
      throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                            "The addresses' length must be a multiple of 16");
    size_t n = bytes / 16;
    if (m < n)
      throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                            "out is shorter than the addresses");
    t->LookupBatch6(a, out, n);
    return Number(env, static_cast<double>(n));
  });
}

// classify(data, meta, count, out): each packet's destination looked up.
napi_value Classify(napi_env env, napi_callback_info cb) {
  return Hot<4>(env, cb, [&](route::RouteTable* t, napi_value* argv) {
    Napi::Env e(env);
    size_t nd = 0, nm = 0, no = 0;
    auto* data = static_cast<uint8_t*>(TypedArg(
        env, argv[0], napi_uint8_array, &nd, "data must be a Uint8Array"));
    auto* meta = static_cast<int32_t*>(TypedArg(
        env, argv[1], napi_int32_array, &nm, "meta must be an Int32Array"));
    auto* out = static_cast<int32_t*>(TypedArg(
        env, argv[3], napi_int32_array, &no, "out must be an Int32Array"));
    double c = -1;
    if (napi_get_value_double(env, argv[2], &c) != napi_ok)
      throw CodedTypeError(e, "ERR_INVALID_ARG_TYPE", "count must be a number");
    if (!(c >= 0) || c != std::floor(c) || c * 2 > nm || c > no)
      throw CodedRangeError(e, "ERR_OUT_OF_RANGE",
                            "count must be an integer with meta.length >= "
                            "2 * count and out.length >= count");
    auto count = static_cast<size_t>(c);
    ptrdiff_t bad = t->Classify(data, nd, meta, count, out);
    if (bad >= 0) {
      Napi::Error err = CodedRangeError(
          e, "ERR_OUT_OF_RANGE",
          "Packet " + std::to_string(bad) + " (offset " +
              std::to_string(meta[2 * bad]) + ", length " +
              std::to_string(meta[2 * bad + 1]) + ") lies outside data");
      err.Set("index", Napi::Number::New(e, static_cast<double>(bad)));
      throw err;
    }
    return Number(env, static_cast<double>(count));
  });
}

}  // namespace

void DefineHotMethods(Napi::Env env, Napi::Value self, Handle* handle) {
  const struct {
    const char* name;
    napi_callback cb;
  } methods[] = {{"lookup", Lookup},
                 {"lookup4", Lookup4},
                 {"lookupBatch4", LookupBatch4},
                 {"lookupBatch6", LookupBatch6},
                 {"classify", Classify}};
  constexpr size_t kCount = sizeof methods / sizeof methods[0];
  napi_property_descriptor props[kCount];
  for (size_t i = 0; i < kCount; ++i) {
    napi_value fn;
    NAPI_THROW_IF_FAILED_VOID(
        env, napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH,
                                  methods[i].cb, handle, &fn));
    ++handle->refs;
    NAPI_THROW_IF_FAILED_VOID(
        env, napi_add_finalizer(
                 env, fn, handle,
                 [](napi_env, void* data, void*) {
                   RouteTableWrap::Release(static_cast<Handle*>(data));
                 },
                 nullptr, nullptr));
    props[i] = napi_property_descriptor{methods[i].name, nullptr, nullptr,
                                        nullptr,         nullptr, fn,
                                        napi_default,    nullptr};
  }
  NAPI_THROW_IF_FAILED_VOID(env,
                            napi_define_properties(env, self, kCount, props));
}

}  // namespace vpn
