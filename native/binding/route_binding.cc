// The RouteTable object: its methods, argument checks, memory accounting
// and the worker that rebuilds a big table's lookup structure off the loop
// (see route_binding.h for the map of the binding).
#include "binding/route_binding.h"

#include <cmath>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"

namespace vpn {

using route::ParseStatus;
using route::u128;

namespace {

[[noreturn]] void ThrowCidr(Napi::Env env, ParseStatus st, bool v6,
                            const std::string& quoted) {
  std::string msg =
      "Invalid CIDR " + quoted + ": " + route::ParseStatusText(st, v6);
  if (st == ParseStatus::kLengthRange)
    throw CodedRangeError(env, "ERR_INVALID_CIDR", msg);
  throw CodedTypeError(env, "ERR_INVALID_CIDR", msg);
}

// Builds a new lookup structure from a snapshot of the control plane on a
// libuv worker. It holds the table's JS object, so the table outlives it.
class RebuildWorker : public Napi::AsyncWorker {
 public:
  RebuildWorker(Napi::Object table, RouteTableWrap* wrap,
                std::unique_ptr<route::RouteTable::RebuildJob> job)
      : Napi::AsyncWorker(table.Env(), "vpn-provider:RouteTable.rebuild"),
        table_(Napi::Persistent(table)),
        wrap_(wrap),
        job_(std::move(job)) {}

 protected:
  void Execute() override {
    try {
      job_->Run();
    } catch (const std::bad_alloc&) {
      SetError("out of memory rebuilding the route table");
    }
  }
  void OnOK() override { wrap_->FinishRebuild(job_.get(), true); }
  void OnError(const Napi::Error&) override {
    wrap_->FinishRebuild(job_.get(), false);
  }

 private:
  Napi::ObjectReference table_;  // keeps wrap_ alive
  RouteTableWrap* wrap_;
  std::unique_ptr<route::RouteTable::RebuildJob> job_;
};

}  // namespace

void RequireCpu(Napi::Env env) {
  if (!route::CpuSupported())
    throw CodedError(env, "ERR_CPU_UNSUPPORTED",
                     "RouteTable needs a CPU with the POPCNT instruction");
}

route::ParsedPrefix PrefixArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsString()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The cidr must be a string such as '10.0.0.0/8'");
  }
  char buf[kMaxText];
  size_t n = 0;
  route::ParsedPrefix p;
  napi_status st = ReadAscii(env, info[i], buf, &n);
  ParseStatus ps = st != napi_ok || n >= kMaxText - 1
                       ? ParseStatus::kBadAddress
                       : route::ParsePrefix(buf, n, &p);
  if (ps != ParseStatus::kOk) {
    // Again as UTF-8, for the message (Quote cuts it at 60 characters).
    napi_get_value_string_utf8(env, info[i], buf, kMaxText, &n);
    ThrowCidr(env, ps, p.v6, Quote(buf, n));
  }
  return p;
}

int32_t ValueArg(const Napi::CallbackInfo& info, size_t i) {
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

LookupKey AddressArg(napi_env env, napi_value v) {
  LookupKey a;
  // A string first, without asking its type (the common case).
  char buf[kMaxText];
  size_t n = 0;
  napi_status st = ReadAscii(env, v, buf, &n);
  napi_valuetype t = napi_string;
  if (st == napi_string_expected) napi_typeof(env, v, &t);
  if (t == napi_number) {
    double d = 0;
    napi_get_value_double(env, v, &d);
    if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
      throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                            "An IPv4 address as a number must be an "
                            "integer from 0 to 4294967295");
    }
    a.a4 = static_cast<uint32_t>(d);
    return a;
  }
  if (t != napi_string) {
    throw CodedTypeError(Napi::Env(env), "ERR_INVALID_ARG_TYPE",
                         "The address must be a string or an IPv4 "
                         "address as an unsigned 32-bit number");
  }
  route::ParsedAddress pa;
  if (st != napi_ok || n >= kMaxText - 1 ||
      route::ParseAddress(buf, n, &pa) != ParseStatus::kOk) {
    // Again as UTF-8, for the message.
    napi_get_value_string_utf8(env, v, buf, kMaxText, &n);
    throw CodedTypeError(Napi::Env(env), "ERR_INVALID_IP",
                         "Invalid IP address " + Quote(buf, n));
  }
  a.v6 = pa.v6;
  a.a4 = pa.addr4;
  a.a6 = pa.addr6;
  return a;
}

Napi::Function RouteTableWrap::Define(Napi::Env env) {
  return DefineClass(
      env, "RouteTable",
      {
          InstanceMethod<&RouteTableWrap::Insert>("insert"),
          InstanceMethod<&RouteTableWrap::Delete>("delete"),
          InstanceMethod<&RouteTableWrap::Get>("get"),
          InstanceMethod<&RouteTableWrap::LookupPrefix>("lookupPrefix"),
          InstanceMethod<&RouteTableWrap::InsertMany>("insertMany"),
          InstanceMethod<&RouteTableWrap::Clear>("clear"),
          InstanceMethod<&RouteTableWrap::Entries>("entries"),
          InstanceAccessor<&RouteTableWrap::Size>("size"),
          InstanceAccessor<&RouteTableWrap::Size4>("size4"),
          InstanceAccessor<&RouteTableWrap::Size6>("size6"),
          InstanceAccessor<&RouteTableWrap::Bytes>("bytes"),
          InstanceAccessor<&RouteTableWrap::ControlBytes>("controlBytes"),
          InstanceAccessor<&RouteTableWrap::Rebuilding>("rebuilding"),
          StaticMethod<&BuildAsync>("buildAsync"),
          StaticMethod<&RouteTableWrap::Normalize>("normalize"),
      });
}

RouteTableWrap::RouteTableWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RouteTableWrap>(info),
      table_(std::make_unique<route::RouteTable>()) {
  RequireCpu(info.Env());
  handle_ = new Handle{this, 1};
  DefineHotMethods(info.Env(), info.This(), handle_);
  table_->set_defer_rebuilds(true);
}

RouteTableWrap::~RouteTableWrap() {
  // Runs in the finalizer; adjusting external memory is allowed there.
  if (reported_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(
        Env(), -static_cast<int64_t>(reported_));
  }
  handle_->wrap = nullptr;
  Release(handle_);
}

void RouteTableWrap::Adopt(std::unique_ptr<route::RouteTable> t) {
  table_ = std::move(t);
  table_->set_defer_rebuilds(true);
  Account();
}

void RouteTableWrap::FinishRebuild(route::RouteTable::RebuildJob* job,
                                   bool ok) {
  rebuilding_ = false;
  if (ok) {
    table_->FinishRebuild(job);
  } else {
    table_->AbandonRebuild();  // out of memory: rebuild in place instead
  }
  Account();
  StartRebuild();
}

void RouteTableWrap::Account() {
  size_t now = table_->lookup_bytes() + table_->control_bytes();
  if (now != reported_) {
    Napi::MemoryManagement::AdjustExternalMemory(
        Env(), static_cast<int64_t>(now) - static_cast<int64_t>(reported_));
    reported_ = now;
  }
}

void RouteTableWrap::StartRebuild() {
  if (rebuilding_) return;
  std::unique_ptr<route::RouteTable::RebuildJob> job = table_->TakeRebuild();
  if (!job) return;
  rebuilding_ = true;
  (new RebuildWorker(Value(), this, std::move(job)))->Queue();
}

Napi::Value RouteTableWrap::Insert(const Napi::CallbackInfo& info) {
  route::ParsedPrefix p = PrefixArg(info, 0);
  int32_t v = ValueArg(info, 1);
  bool added = p.v6 ? table_->Insert6(p.addr6, p.len, v)
                    : table_->Insert4(p.addr4, p.len, v);
  if (added) Account();
  return Napi::Boolean::New(info.Env(), added);
}

Napi::Value RouteTableWrap::Delete(const Napi::CallbackInfo& info) {
  route::ParsedPrefix p = PrefixArg(info, 0);
  bool had =
      p.v6 ? table_->Erase6(p.addr6, p.len) : table_->Erase4(p.addr4, p.len);
  return Napi::Boolean::New(info.Env(), had);
}

// Exact match: the value of this very prefix, or -1.
Napi::Value RouteTableWrap::Get(const Napi::CallbackInfo& info) {
  route::ParsedPrefix p = PrefixArg(info, 0);
  int32_t v = -1;
  bool found = p.v6 ? table_->Get6(p.addr6, p.len, &v)
                    : table_->Get4(p.addr4, p.len, &v);
  return Napi::Number::New(info.Env(), found ? v : -1);
}

// [prefix, value] of the longest match, or null.
Napi::Value RouteTableWrap::LookupPrefix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LookupKey a = AddressArg(env, info.Length() > 0 ? info[0] : env.Undefined());
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

Napi::Value RouteTableWrap::InsertMany(const Napi::CallbackInfo& info) {
  BulkInput in = BulkArgs(info, false);
  route::BulkResult r;
  route::BulkError err;
  if (!RunBulk(table_.get(), &in, &r, &err)) throw BulkFailure(info.Env(), err);
  Account();
  return BulkReport(info.Env(), r);
}

Napi::Value RouteTableWrap::Clear(const Napi::CallbackInfo& info) {
  table_->Clear();
  Account();
  return info.Env().Undefined();
}

// All entries, sorted: [cidrs: string[], values: Int32Array].
Napi::Value RouteTableWrap::Entries(const Napi::CallbackInfo& info) {
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

Napi::Value RouteTableWrap::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(table_->size()));
}
Napi::Value RouteTableWrap::Size4(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(table_->size4()));
}
Napi::Value RouteTableWrap::Size6(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(table_->size6()));
}
Napi::Value RouteTableWrap::Bytes(const Napi::CallbackInfo& info) {
  Sync();
  return Napi::Number::New(info.Env(),
                           static_cast<double>(table_->lookup_bytes()));
}
Napi::Value RouteTableWrap::Rebuilding(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), table_->rebuilding());
}
Napi::Value RouteTableWrap::ControlBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(table_->control_bytes()));
}

// The canonical form of a CIDR ("10.1.2.3/8" -> "10.0.0.0/8").
Napi::Value RouteTableWrap::Normalize(const Napi::CallbackInfo& info) {
  route::ParsedPrefix p = PrefixArg(info, 0);
  return Napi::String::New(info.Env(),
                           p.v6 ? route::FormatPrefix6(p.addr6, p.len)
                                : route::FormatPrefix4(p.addr4, p.len));
}

void InitRouteTable(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = RouteTableWrap::Define(env);
  data->route_table_ctor = Napi::Persistent(ctor);
  exports.Set("RouteTable", ctor);
}

}  // namespace vpn
