// RouteTable binding (issue 3): N-API glue over route::RouteTable
// (native/route/route_table.h, where the design is explained). Everything here
// is argument checking, conversion and memory accounting; lookups of a batch
// are one call. The JS class lib/route/route-table.ts wraps this one.
//
// Errors: bad CIDR text -> TypeError, code ERR_INVALID_CIDR (RangeError with
// the same code when only the prefix length is out of range); bad address
// text -> TypeError ERR_INVALID_IP; value not an integer 0..2^31-1 ->
// RangeError ERR_OUT_OF_RANGE; wrong argument types -> TypeError
// ERR_INVALID_ARG_TYPE. Bulk-load errors carry `index` (the entry's
// position).
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "binding/addon.h"
#include "binding/errors.h"
#include "route/cidr.h"
#include "route/route_table.h"

namespace vpn {

namespace {

using route::BulkError;
using route::BulkResult;
using route::ParseStatus;
using route::u128;

constexpr size_t kMaxText = 64;  // longer than any address or CIDR

// Copies a JS string into buf (NUL-terminated); returns its length, or
// kMaxText when it is longer than any valid address (then it is invalid).
size_t ReadShortString(Napi::Env env, napi_value v, char* buf) {
  size_t len = 0;
  napi_status st = napi_get_value_string_utf8(env, v, buf, kMaxText, &len);
  if (st != napi_ok) NAPI_THROW_IF_FAILED(env, st, 0);
  if (len >= kMaxText - 1) return kMaxText;
  return len;
}

std::string Quote(const char* s, size_t n) {
  std::string out = "\"";
  out.append(s, n > 60 ? 60 : n);
  if (n > 60) out += "...";
  out += "\"";
  return out;
}

[[noreturn]] void ThrowCidr(Napi::Env env, ParseStatus st, bool v6,
                            const std::string& quoted,
                            const std::string& where) {
  std::string msg =
      "Invalid CIDR " + quoted + where + ": " + route::ParseStatusText(st, v6);
  Napi::Error e = st == ParseStatus::kLengthRange
                      ? CodedRangeError(env, "ERR_INVALID_CIDR", msg)
                      : CodedTypeError(env, "ERR_INVALID_CIDR", msg);
  throw e;
}

route::ParsedPrefix ArgPrefix(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsString()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The cidr must be a string such as '10.0.0.0/8'");
  }
  char buf[kMaxText];
  size_t n = ReadShortString(env, info[i], buf);
  route::ParsedPrefix p;
  if (n == kMaxText) {
    ThrowCidr(env, ParseStatus::kBadAddress, false,
              Quote(buf, std::strlen(buf)), "");
  }
  ParseStatus st = route::ParsePrefix(buf, n, &p);
  if (st != ParseStatus::kOk) ThrowCidr(env, st, p.v6, Quote(buf, n), "");
  return p;
}

int32_t ArgValue(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The value must be a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 2147483647.0) || d != std::floor(d)) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "The value must be an integer from 0 to "
                          "2147483647; received " +
                              info[i].ToString().Utf8Value());
  }
  return static_cast<int32_t>(d);
}

// An address argument: a string, or an IPv4 address as an unsigned 32-bit
// integer.
struct Address {
  bool v6 = false;
  uint32_t a4 = 0;
  u128 a6 = 0;
};

Address ArgAddress(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  Address a;
  napi_valuetype t = napi_undefined;
  if (info.Length() > i) napi_typeof(env, info[i], &t);
  if (t == napi_number) {
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "An IPv4 address as a number must be an integer "
                            "from 0 to 4294967295");
    }
    a.a4 = static_cast<uint32_t>(d);
    return a;
  }
  if (t != napi_string) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The address must be a string or an IPv4 address as "
                         "an unsigned 32-bit number");
  }
  char buf[kMaxText];
  size_t n = ReadShortString(env, info[i], buf);
  route::ParsedAddress pa;
  if (n == kMaxText || route::ParseAddress(buf, n, &pa) != ParseStatus::kOk) {
    throw CodedTypeError(env, "ERR_INVALID_IP",
                         "Invalid IP address " +
                             Quote(buf, n == kMaxText ? std::strlen(buf) : n));
  }
  a.v6 = pa.v6;
  a.a4 = pa.addr4;
  a.a6 = pa.addr6;
  return a;
}

template <typename T>
T ArgTyped(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want,
           const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != want) {
    throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                         std::string("The ") + what);
  }
  return info[i].As<T>();
}

// The parts of a bulk load taken from JS on the calling thread: the joined
// text, the entry count, the values (copied, so that a worker can use them).
struct BulkInput {
  std::string text;
  size_t count = 0;
  std::vector<int32_t> values;  // empty: `value` for all
  int32_t value = 0;
};

BulkInput ArgBulk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BulkInput in;
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "insertMany(text, count, values) takes a string, a "
                         "count and an Int32Array or a number");
  }
  in.text = info[0].As<Napi::String>().Utf8Value();
  double c = info[1].As<Napi::Number>().DoubleValue();
  if (!(c >= 0 && c < 4294967296.0) || c != std::floor(c)) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "Bad entry count");
  }
  in.count = static_cast<size_t>(c);
  if (info[2].IsNumber()) {
    in.value = ArgValue(info, 2);
    return in;
  }
  auto values = ArgTyped<Napi::Int32Array>(info, 2, napi_int32_array,
                                           "values must be an Int32Array");
  if (values.ElementLength() != in.count) {
    throw CodedRangeError(
        env, "ERR_OUT_OF_RANGE",
        "values has " + std::to_string(values.ElementLength()) +
            " entries for " + std::to_string(in.count) + " prefixes");
  }
  in.values.assign(values.Data(), values.Data() + in.count);
  for (size_t i = 0; i < in.count; ++i) {
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

Napi::Error BulkFailure(Napi::Env env, const BulkError& err) {
  if (err.kind == BulkError::kCount) {
    return CodedTypeError(env, "ERR_INVALID_CIDR",
                          "The entries do not match their count (an entry "
                          "holds a newline?)");
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
  return o;
}

class RouteTableWrap : public Napi::ObjectWrap<RouteTableWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "RouteTable",
        {
            InstanceMethod<&RouteTableWrap::Insert>("insert"),
            InstanceMethod<&RouteTableWrap::Delete>("delete"),
            InstanceMethod<&RouteTableWrap::Get>("get"),
            InstanceMethod<&RouteTableWrap::Lookup>("lookup"),
            InstanceMethod<&RouteTableWrap::Lookup4>("lookup4"),
            InstanceMethod<&RouteTableWrap::LookupPrefix>("lookupPrefix"),
            InstanceMethod<&RouteTableWrap::LookupBatch4>("lookupBatch4"),
            InstanceMethod<&RouteTableWrap::LookupBatch6>("lookupBatch6"),
            InstanceMethod<&RouteTableWrap::Classify>("classify"),
            InstanceMethod<&RouteTableWrap::InsertMany>("insertMany"),
            InstanceMethod<&RouteTableWrap::Clear>("clear"),
            InstanceMethod<&RouteTableWrap::Entries>("entries"),
            InstanceAccessor<&RouteTableWrap::Size>("size"),
            InstanceAccessor<&RouteTableWrap::Size4>("size4"),
            InstanceAccessor<&RouteTableWrap::Size6>("size6"),
            InstanceAccessor<&RouteTableWrap::Bytes>("bytes"),
            InstanceAccessor<&RouteTableWrap::ControlBytes>("controlBytes"),
            StaticMethod<&RouteTableWrap::BuildAsync>("buildAsync"),
            StaticMethod<&RouteTableWrap::Normalize>("normalize"),
        });
  }

  explicit RouteTableWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<RouteTableWrap>(info),
        table_(std::make_unique<route::RouteTable>()) {
    if (!route::CpuSupported()) {
      throw CodedError(info.Env(), "ERR_CPU_UNSUPPORTED",
                       "RouteTable needs a CPU with the POPCNT instruction");
    }
  }

  ~RouteTableWrap() override {
    // Runs in the finalizer; adjusting external memory is allowed there.
    if (reported_ != 0) {
      Napi::MemoryManagement::AdjustExternalMemory(
          Env(), -static_cast<int64_t>(reported_));
    }
  }

  // Takes over a table built elsewhere (by BuildAsync's worker).
  void Adopt(std::unique_ptr<route::RouteTable> t) {
    table_ = std::move(t);
    Account();
  }

 private:
  // Tells V8 how much native memory this table holds (both structures),
  // so that GC pressure reflects it.
  void Account() {
    size_t now = table_->lookup_bytes() + table_->control_bytes();
    if (now != reported_) {
      Napi::MemoryManagement::AdjustExternalMemory(
          Env(), static_cast<int64_t>(now) - static_cast<int64_t>(reported_));
      reported_ = now;
    }
  }

  // Applies pending changes before a lookup, accounting for the new size.
  void Sync() {
    if (!table_->synced()) {
      table_->Sync();
      Account();
    }
  }

  Napi::Value Insert(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    int32_t v = ArgValue(info, 1);
    bool added = p.v6 ? table_->Insert6(p.addr6, p.len, v)
                      : table_->Insert4(p.addr4, p.len, v);
    if (added) Account();
    return Napi::Boolean::New(info.Env(), added);
  }

  Napi::Value Delete(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    bool had =
        p.v6 ? table_->Erase6(p.addr6, p.len) : table_->Erase4(p.addr4, p.len);
    return Napi::Boolean::New(info.Env(), had);
  }

  // Exact match: the value of this very prefix, or -1.
  Napi::Value Get(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    int32_t v = -1;
    bool found = p.v6 ? table_->Get6(p.addr6, p.len, &v)
                      : table_->Get4(p.addr4, p.len, &v);
    return Napi::Number::New(info.Env(), found ? v : -1);
  }

  Napi::Value Lookup(const Napi::CallbackInfo& info) {
    Address a = ArgAddress(info, 0);
    Sync();
    int32_t v = a.v6 ? table_->Lookup6(a.a6) : table_->Lookup4(a.a4);
    return Napi::Number::New(info.Env(), v);
  }

  // The fast path for an IPv4 number (the JS side checks the type).
  Napi::Value Lookup4(const Napi::CallbackInfo& info) {
    uint32_t a = info[0].As<Napi::Number>().Uint32Value();
    Sync();
    return Napi::Number::New(info.Env(), table_->Lookup4(a));
  }

  // [prefix, value] of the longest match, or null.
  Napi::Value LookupPrefix(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Address a = ArgAddress(info, 0);
    int32_t v = -1;
    int len = a.v6 ? table_->Match6(a.a6, &v) : table_->Match4(a.a4, &v);
    if (len < 0) return env.Null();
    std::string prefix =
        a.v6 ? route::FormatPrefix6(a.a6 & route::Mask<u128>(len), len)
             : route::FormatPrefix4(a.a4 & route::Mask<uint32_t>(len), len);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::String::New(env, prefix));
    out.Set(1u, Napi::Number::New(env, v));
    return out;
  }

  Napi::Value LookupBatch4(const Napi::CallbackInfo& info) {
    auto addrs = ArgTyped<Napi::Uint32Array>(info, 0, napi_uint32_array,
                                             "addresses must be a Uint32Array");
    auto out = ArgTyped<Napi::Int32Array>(info, 1, napi_int32_array,
                                          "out must be an Int32Array");
    size_t n = addrs.ElementLength();
    if (out.ElementLength() < n) {
      throw CodedRangeError(info.Env(), "ERR_OUT_OF_RANGE",
                            "out is shorter than the addresses");
    }
    Sync();
    table_->LookupBatch4(addrs.Data(), out.Data(), n);
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value LookupBatch6(const Napi::CallbackInfo& info) {
    auto addrs = ArgTyped<Napi::Uint8Array>(
        info, 0, napi_uint8_array,
        "addresses must be a Uint8Array of 16-byte addresses");
    auto out = ArgTyped<Napi::Int32Array>(info, 1, napi_int32_array,
                                          "out must be an Int32Array");
    size_t bytes = addrs.ElementLength();
    if (bytes % 16 != 0) {
      throw CodedRangeError(info.Env(), "ERR_OUT_OF_RANGE",
                            "The addresses' length must be a multiple of 16");
    }
    size_t n = bytes / 16;
    if (out.ElementLength() < n) {
      throw CodedRangeError(info.Env(), "ERR_OUT_OF_RANGE",
                            "out is shorter than the addresses");
    }
    Sync();
    table_->LookupBatch6(addrs.Data(), out.Data(), n);
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value Classify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto data = ArgTyped<Napi::Uint8Array>(info, 0, napi_uint8_array,
                                           "data must be a Uint8Array");
    auto meta = ArgTyped<Napi::Int32Array>(info, 1, napi_int32_array,
                                           "meta must be an Int32Array");
    if (info.Length() < 3 || !info[2].IsNumber()) {
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "count must be a number");
    }
    auto out = ArgTyped<Napi::Int32Array>(info, 3, napi_int32_array,
                                          "out must be an Int32Array");
    double c = info[2].As<Napi::Number>().DoubleValue();
    if (!(c >= 0) || c != std::floor(c) || c * 2 > meta.ElementLength() ||
        c > out.ElementLength()) {
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "count must be an integer with meta.length >= "
                            "2 * count and out.length >= count");
    }
    size_t count = static_cast<size_t>(c);
    Sync();
    ptrdiff_t bad = table_->Classify(data.Data(), data.ElementLength(),
                                     meta.Data(), count, out.Data());
    if (bad >= 0) {
      Napi::Error e = CodedRangeError(
          env, "ERR_OUT_OF_RANGE",
          "Packet " + std::to_string(bad) + " (offset " +
              std::to_string(meta.Data()[2 * bad]) + ", length " +
              std::to_string(meta.Data()[2 * bad + 1]) + ") lies outside data");
      e.Set("index", Napi::Number::New(env, static_cast<double>(bad)));
      throw e;
    }
    return Napi::Number::New(env, static_cast<double>(count));
  }

  Napi::Value InsertMany(const Napi::CallbackInfo& info) {
    BulkInput in = ArgBulk(info);
    BulkResult r;
    BulkError err;
    if (!table_->InsertMany(in.text.data(), in.text.size(), in.count,
                            in.values.empty() ? nullptr : in.values.data(),
                            in.value, &r, &err)) {
      throw BulkFailure(info.Env(), err);
    }
    Account();
    return BulkReport(info.Env(), r);
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    table_->Clear();
    Account();
    return info.Env().Undefined();
  }

  // All entries, sorted: [cidrs: string[], values: Int32Array].
  Napi::Value Entries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<route::Entry<uint32_t>> e4;
    std::vector<route::Entry<u128>> e6;
    table_->family4().cp.CollectAll(&e4);
    table_->family6().cp.CollectAll(&e6);
    size_t n = e4.size() + e6.size();
    Napi::Array cidrs = Napi::Array::New(env, n);
    Napi::Int32Array values = Napi::Int32Array::New(env, n);
    uint32_t i = 0;
    for (const auto& e : e4) {
      cidrs.Set(i, Napi::String::New(env, route::FormatPrefix4(e.key, e.len)));
      values[i++] = e.value;
    }
    for (const auto& e : e6) {
      cidrs.Set(i, Napi::String::New(env, route::FormatPrefix6(e.key, e.len)));
      values[i++] = e.value;
    }
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, cidrs);
    out.Set(1u, values);
    return out;
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size()));
  }
  Napi::Value Size4(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size4()));
  }
  Napi::Value Size6(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size6()));
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    Sync();
    return Napi::Number::New(info.Env(),
                             static_cast<double>(table_->lookup_bytes()));
  }
  Napi::Value ControlBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(),
                             static_cast<double>(table_->control_bytes()));
  }

  // The canonical form of a CIDR ("10.1.2.3/8" -> "10.0.0.0/8").
  static Napi::Value Normalize(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    return Napi::String::New(info.Env(),
                             p.v6 ? route::FormatPrefix6(p.addr6, p.len)
                                  : route::FormatPrefix4(p.addr4, p.len));
  }

  // buildAsync(text, count, values) -> Promise<native RouteTable>: parses,
  // sorts and builds a new table on a libuv worker thread. Only the copy of
  // the text and values happens on the calling thread.
  static Napi::Value BuildAsync(const Napi::CallbackInfo& info);

  std::unique_ptr<route::RouteTable> table_;
  size_t reported_ = 0;
};

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
      ok_ = table_->InsertMany(in_.text.data(), in_.text.size(), in_.count,
                               in_.values.empty() ? nullptr : in_.values.data(),
                               in_.value, &result_, &error_);
    } catch (const std::bad_alloc&) {
      SetError("out of memory building the route table");
    }
    std::string().swap(in_.text);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!ok_) {
      deferred_.Reject(BulkFailure(env, error_).Value());
      return;
    }
    AddonData* data = GetAddonData(env);
    Napi::Object obj = data->route_table_ctor.New({});
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

Napi::Value RouteTableWrap::BuildAsync(const Napi::CallbackInfo& info) {
  if (!route::CpuSupported()) {
    throw CodedError(info.Env(), "ERR_CPU_UNSUPPORTED",
                     "RouteTable needs a CPU with the POPCNT instruction");
  }
  BulkInput in = ArgBulk(info);
  auto* w = new BuildWorker(info.Env(), std::move(in));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitRouteTable(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = RouteTableWrap::Define(env);
  data->route_table_ctor = Napi::Persistent(ctor);
  exports.Set("RouteTable", ctor);
}

}  // namespace vpn
