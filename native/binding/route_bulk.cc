// Bulk loads of the route table: the text input taken from JS (a string, a
// Uint8Array of text, or pieces of it), what a load reports, its errors, and
// buildAsync's worker, which parses, sorts and builds off the loop.
#include <cmath>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "binding/route_binding.h"

namespace vpn {

using route::BulkError;
using route::BulkResult;
using route::ParseStatus;

// text: a string of `count` entries joined by '\n'; a Uint8Array of such
// text (count -1: however many lines it holds, a final '\n' allowed); or an
// array of Uint8Array pieces (see BulkInput).
BulkInput BulkArgs(const Napi::CallbackInfo& info, bool own) {
  Napi::Env env = info.Env();
  BulkInput in;
  bool pieces = info.Length() > 0 && info[0].IsArray();
  bool bytes =
      info.Length() > 0 && info[0].IsTypedArray() &&
      info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  if (info.Length() < 3 || !(info[0].IsString() || pieces || bytes) ||
      !info[1].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "insertMany(text, count, values) takes a string or "
                         "a Uint8Array, a count and an Int32Array or a number");
  }
  if (pieces) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsTypedArray() ||
          v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                             "The text pieces must be Uint8Arrays");
      }
      Napi::Uint8Array u = v.As<Napi::Uint8Array>();
      in.pieces.emplace_back(reinterpret_cast<const char*>(u.Data()),
                             u.ElementLength());
      in.refs.push_back(Napi::Persistent(v));
    }
  } else if (bytes) {
    Napi::Uint8Array u = info[0].As<Napi::Uint8Array>();
    const char* d = reinterpret_cast<const char*>(u.Data());
    if (own) {
      in.text.assign(d, u.ElementLength());
    } else {
      in.data = d;
      in.len = u.ElementLength();
    }
  } else {
    in.text = info[0].As<Napi::String>().Utf8Value();
  }
  double c = info[1].As<Napi::Number>().DoubleValue();
  if (c == -1 && bytes) {
    in.count = route::RouteTable::kCountLines;
  } else if (!(c >= 0 && c <= 2147483647.0) || c != std::floor(c)) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "Bad entry count");
  } else {
    in.count = static_cast<size_t>(c);
  }
  if (info[2].IsNumber()) {
    in.value = ValueArg(info, 2);
    return in;
  }
  size_t n = 0;
  auto* values = static_cast<int32_t*>(TypedArg(
      env, info[2], napi_int32_array, &n, "values must be an Int32Array"));
  if (in.count != route::RouteTable::kCountLines && n != in.count) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "values has " + std::to_string(n) + " entries for " +
                              std::to_string(in.count) + " prefixes");
  }
  in.have_values = true;
  in.values.assign(values, values + n);
  for (size_t i = 0; i < in.values.size(); ++i) {
    if (in.values[i] < 0) {
      Napi::Error e = CodedRangeError(
          env, "ERR_OUT_OF_RANGE",
          "values[" + std::to_string(i) +
              "] must be an integer from 0 to 2147483647; received " +
              std::to_string(in.values[i]));
      e.Set("index", Napi::Number::New(env, static_cast<double>(i)));
      throw e;
    }
  }
  return in;
}

bool RunBulk(route::RouteTable* t, BulkInput* in, BulkResult* r,
             BulkError* err) {
  if (!in->pieces.empty()) {
    size_t total = in->pieces.size() - 1;
    for (const auto& p : in->pieces) total += p.second;
    in->text.clear();
    in->text.reserve(total);
    for (size_t i = 0; i < in->pieces.size(); ++i) {
      if (i != 0) in->text += '\n';
      in->text.append(in->pieces[i].first, in->pieces[i].second);
    }
    in->data = nullptr;
  }
  const char* text = in->data ? in->data : in->text.data();
  size_t len = in->data ? in->len : in->text.size();
  return t->InsertMany(text, len, in->count,
                       in->have_values ? in->values.data() : nullptr,
                       in->values.size(), in->value, r, err);
}

Napi::Error BulkFailure(Napi::Env env, const BulkError& err) {
  if (err.kind == BulkError::kCount) {
    return CodedTypeError(env, "ERR_INVALID_CIDR",
                          "The entries do not match their count (an entry "
                          "holds a newline?)");
  }
  if (err.kind == BulkError::kValueCount) {
    return CodedRangeError(env, "ERR_OUT_OF_RANGE",
                           "values has " + std::to_string(err.index) +
                               " entries for " + std::to_string(err.lines) +
                               " prefixes");
  }
  std::string msg = "Invalid CIDR " +
                    Quote(err.entry.data(), err.entry.size()) + " at index " +
                    std::to_string(err.index) + ": " +
                    route::ParseStatusText(err.status, err.v6);
  Napi::Error e = err.status == ParseStatus::kLengthRange
                      ? CodedRangeError(env, "ERR_INVALID_CIDR", msg)
                      : CodedTypeError(env, "ERR_INVALID_CIDR", msg);
  e.Set("index", Napi::Number::New(env, static_cast<double>(err.index)));
  return e;
}

Napi::Object BulkReport(Napi::Env env, const BulkResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, static_cast<double>(r.count)));
  o.Set("added", Napi::Number::New(env, static_cast<double>(r.added)));
  o.Set("replaced", Napi::Number::New(env, static_cast<double>(r.replaced)));
  o.Set("masked", Napi::Number::New(env, static_cast<double>(r.masked)));
  Napi::Array idx = Napi::Array::New(env, r.masked_index.size());
  for (size_t i = 0; i < r.masked_index.size(); ++i) {
    idx.Set(static_cast<uint32_t>(i),
            Napi::Number::New(env, static_cast<double>(r.masked_index[i])));
  }
  o.Set("maskedIndex", idx);
  Napi::Array text = Napi::Array::New(env, r.masked_text.size());
  for (size_t i = 0; i < r.masked_text.size(); ++i) {
    text.Set(static_cast<uint32_t>(i),
             Napi::String::New(env, r.masked_text[i]));
  }
  o.Set("maskedText", text);
  return o;
}

namespace {

class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, BulkInput in)
      : Napi::AsyncWorker(env, "vpn-provider:RouteTable.buildAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        in_(std::move(in)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      table_ = std::make_unique<route::RouteTable>();
      ok_ = RunBulk(table_.get(), &in_, &result_, &error_);
    } catch (const std::bad_alloc&) {
      SetError("out of memory building the route table");
    }
    std::string().swap(in_.text);
    std::vector<int32_t>().swap(in_.values);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!ok_) {
      deferred_.Reject(BulkFailure(env, error_).Value());
      return;
    }
    Napi::Object obj = GetAddonData(env)->route_table_ctor.New({});
    RouteTableWrap::Unwrap(obj)->Adopt(std::move(table_));
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, obj);
    out.Set(1u, BulkReport(env, result_));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(CodedError(Env(), "ENOMEM", e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  BulkInput in_;
  std::unique_ptr<route::RouteTable> table_;
  BulkResult result_;
  BulkError error_;
  bool ok_ = false;
};

}  // namespace

// Only the copy of the text and values happens on the calling thread.
Napi::Value BuildAsync(const Napi::CallbackInfo& info) {
  RequireCpu(info.Env());
  BulkInput in = BulkArgs(info, true);
  auto* w = new BuildWorker(info.Env(), std::move(in));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace vpn
