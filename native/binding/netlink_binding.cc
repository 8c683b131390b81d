// rtnetlink binding: each request is parsed and checked on the JS thread,
// then sent and acknowledged on the threadpool (AsyncWorker), settling a
// Promise. Errors carry errno and code (EPERM without CAP_NET_ADMIN).
#include <arpa/inet.h>
#include <net/if.h>

#include <functional>

#include "binding/addon.h"
#include "binding/errors.h"
#include "netlink/netlink.h"

namespace vpn {
namespace {

class NetlinkWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<int()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  NetlinkWorker(Napi::Env env, const char* what, Work work,
                Result result = nullptr)
      : Napi::AsyncWorker(env, "vpn-provider:netlink"),
        deferred_(Napi::Promise::Deferred::New(env)),
        what_(what),
        work_(std::move(work)),
        result_(std::move(result)) {}

  static Napi::Promise Run(Napi::Env env, const char* what, Work work,
                           Result result = nullptr) {
    auto* w = new NetlinkWorker(env, what, std::move(work), std::move(result));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

  void Execute() override { err_ = work_(); }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ < 0) {
      std::string what = what_;
      if (-err_ == EPERM) what += " (needs CAP_NET_ADMIN)";
      deferred_.Reject(SystemError(env, -err_, "netlink", what).Value());
    } else {
      deferred_.Resolve(result_ ? result_(env) : env.Undefined());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  const char* what_;
  Work work_;
  Result result_;
  int err_ = 0;
};

Napi::Object ArgObject(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 1 || !info[0].IsObject())
    throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", usage);
  return info[0].As<Napi::Object>();
}

// An optional integer property in [lo, hi]; `fallback` when undefined.
int64_t IntProp(Napi::Env env, Napi::Object o, const char* key, int64_t lo,
                int64_t hi, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) ||
      d != static_cast<double>(static_cast<int64_t>(d)))
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          std::string(key) + " must be an integer from " +
                              std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<int64_t>(d);
}

int Ifindex(Napi::Env env, Napi::Object o) {
  int64_t i = IntProp(env, o, "ifindex", 1, 0x7fffffff, -1);
  if (i < 0)
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "ifindex is required");
  return static_cast<int>(i);
}

// Parses text as an address of `family` (0: either). Returns the family.
int ParseIp(Napi::Env env, Napi::Value v, const char* key, int family,
            uint8_t* out) {
  if (!v.IsString())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(key) + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if ((family == 0 || family == AF_INET) &&
      inet_pton(AF_INET, s.c_str(), out) == 1)
    return AF_INET;
  if ((family == 0 || family == AF_INET6) &&
      inet_pton(AF_INET6, s.c_str(), out) == 1)
    return AF_INET6;
  throw CodedTypeError(env, "ERR_INVALID_IP",
                       std::string(key) + " is not a valid " +
                           (family == AF_INET    ? "IPv4"
                            : family == AF_INET6 ? "IPv6"
                                                 : "IP") +
                           " address: \"" + s + "\"");
}

netlink::Address ParseAddress(Napi::Env env, Napi::Object o) {
  netlink::Address a;
  a.ifindex = Ifindex(env, o);
  a.family = ParseIp(env, o.Get("address"), "address", 0, a.local);
  a.prefix_length = static_cast<uint8_t>(
      IntProp(env, o, "prefixLength", 0, a.family == AF_INET ? 32 : 128, -1));
  if (o.Get("prefixLength").IsUndefined())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "prefixLength is required");
  Napi::Value peer = o.Get("peer");
  if (!peer.IsUndefined() && !peer.IsNull()) {
    ParseIp(env, peer, "peer", a.family, a.peer);
    a.has_peer = true;
  }
  Napi::Value bcast = o.Get("broadcast");
  if (!bcast.IsUndefined() && !bcast.IsNull()) {
    if (a.family != AF_INET)
      throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                           "broadcast is for IPv4 addresses only");
    ParseIp(env, bcast, "broadcast", AF_INET, a.broadcast);
    a.has_broadcast = true;
  }
  return a;
}

Napi::Value SetLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o =
      ArgObject(info, "setLink({ ifindex, up?, mtu?, txQueueLen? })");
  netlink::LinkChange c;
  c.ifindex = Ifindex(env, o);
  Napi::Value up = o.Get("up");
  if (!up.IsUndefined()) {
    if (!up.IsBoolean())
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "up must be a boolean");
    c.up = up.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  c.mtu = IntProp(env, o, "mtu", 68, 65535, -1);
  c.txqlen = IntProp(env, o, "txQueueLen", 0, 0x7fffffff, -1);
  return NetlinkWorker::Run(env, "cannot change the link",
                            [c] { return netlink::SetLink(c); });
}

Napi::Value DeleteLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = Ifindex(env, ArgObject(info, "deleteLink({ ifindex })"));
  return NetlinkWorker::Run(env, "cannot delete the link",
                            [ifindex] { return netlink::DeleteLink(ifindex); });
}

Napi::Value AddAddress(const Napi::CallbackInfo& info) {
  netlink::Address a = ParseAddress(
      info.Env(),
      ArgObject(info, "addAddress({ ifindex, address, prefixLength })"));
  return NetlinkWorker::Run(info.Env(), "cannot add the address",
                            [a] { return netlink::AddAddress(a); });
}

Napi::Value DeleteAddress(const Napi::CallbackInfo& info) {
  netlink::Address a = ParseAddress(
      info.Env(),
      ArgObject(info, "deleteAddress({ ifindex, address, prefixLength })"));
  return NetlinkWorker::Run(info.Env(), "cannot delete the address",
                            [a] { return netlink::DeleteAddress(a); });
}

Napi::Value LinkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "linkInfo(ifindex)");
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  auto link = std::make_shared<netlink::LinkInfo>();
  return NetlinkWorker::Run(
      env, "cannot read the link",
      [ifindex, link] { return netlink::GetLink(ifindex, link.get()); },
      [link](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("ifindex", link->ifindex);
        o.Set("name", link->name);
        o.Set("mtu", link->mtu);
        o.Set("flags", link->flags);
        o.Set("up", (link->flags & IFF_UP) != 0);
        o.Set("txQueueLen", link->txqlen);
        Napi::Object st = Napi::Object::New(env);
        auto n = [&](const char* k, uint64_t v) {
          st.Set(k, static_cast<double>(v));
        };
        n("rxPackets", link->rx_packets);
        n("txPackets", link->tx_packets);
        n("rxBytes", link->rx_bytes);
        n("txBytes", link->tx_bytes);
        n("rxDropped", link->rx_dropped);
        n("txDropped", link->tx_dropped);
        n("rxErrors", link->rx_errors);
        n("txErrors", link->tx_errors);
        o.Set("stats", st);
        return o;
      });
}

Napi::Value LinkIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "linkIndex(name)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  unsigned i = if_nametoindex(name.c_str());
  if (i == 0)
    throw SystemError(env, errno, "if_nametoindex",
                      "no interface \"" + name + "\"");
  return Napi::Number::New(env, i);
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports, AddonData*) {
  exports.Set("setLink", Napi::Function::New(env, SetLink, "setLink"));
  exports.Set("deleteLink", Napi::Function::New(env, DeleteLink, "deleteLink"));
  exports.Set("addAddress", Napi::Function::New(env, AddAddress, "addAddress"));
  exports.Set("deleteAddress",
              Napi::Function::New(env, DeleteAddress, "deleteAddress"));
  exports.Set("linkInfo", Napi::Function::New(env, LinkInfo, "linkInfo"));
  exports.Set("linkIndex", Napi::Function::New(env, LinkIndex, "linkIndex"));
}

}  // namespace vpn
