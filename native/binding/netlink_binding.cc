// rtnetlink binding: each request is parsed and checked on the JS thread,
// then sent and acknowledged on the threadpool (AsyncWorker), settling a
// Promise. Errors carry errno and code (EPERM without CAP_NET_ADMIN).
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include <functional>
#include <memory>
#include <vector>

#include "binding/addon.h"
#include "binding/args.h"
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

int Ifindex(Napi::Env env, Napi::Object o) {
  int64_t i = IntProp(env, o, "ifindex", 1, 0x7fffffff, -1);
  if (i < 0)
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "ifindex is required");
  return static_cast<int>(i);
}

// An address argument as netlink wants it: network byte order in out[]
// (room for `room` bytes), the family (AF_INET or AF_INET6) returned.
// family: 0 (either), 4 or 6.
int AddressBytes(Napi::Env env, Napi::Value v, const char* key, int family,
                 uint8_t* out, size_t room) {
  route::ParsedAddress a = IpArg(env, v, key, family);
  uint8_t bytes[16];
  if (a.v6) {
    route::Store6(a.addr6, bytes);
  } else {
    for (int i = 0; i < 4; ++i)
      bytes[i] = static_cast<uint8_t>(a.addr4 >> (24 - 8 * i));
  }
  size_t len = a.v6 ? 16 : 4;
  memcpy(out, bytes, len < room ? len : room);
  return a.v6 ? AF_INET6 : AF_INET;
}

netlink::Address ParseAddress(Napi::Env env, Napi::Object o) {
  netlink::Address a;
  a.ifindex = Ifindex(env, o);
  a.family = AddressBytes(env, o.Get("address"), "address", 0, a.local,
                          sizeof a.local);
  if (o.Get("prefixLength").IsUndefined())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "prefixLength is required");
  a.prefix_length = static_cast<uint8_t>(
      IntProp(env, o, "prefixLength", 0, a.family == AF_INET ? 32 : 128, -1));
  int family = a.family == AF_INET ? 4 : 6;
  Napi::Value peer = o.Get("peer");
  if (!peer.IsUndefined() && !peer.IsNull()) {
    AddressBytes(env, peer, "peer", family, a.peer, sizeof a.peer);
    a.has_peer = true;
  }
  Napi::Value bcast = o.Get("broadcast");
  if (!bcast.IsUndefined() && !bcast.IsNull()) {
    if (a.family != AF_INET)
      throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                           "broadcast is for IPv4 addresses only");
    AddressBytes(env, bcast, "broadcast", 4, a.broadcast, sizeof a.broadcast);
    a.has_broadcast = true;
  }
  return a;
}

Napi::Value SetLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o =
      ObjectArg(info,
                "setLink({ ifindex, up?, mtu?, txQueueLen?, gsoMaxSize?, "
                "ipv6LinkLocal? })");
  netlink::LinkChange c;
  c.ifindex = Ifindex(env, o);
  c.up = BoolProp(env, o, "up");
  c.mtu = IntProp(env, o, "mtu", 68, 65535, -1);
  c.txqlen = IntProp(env, o, "txQueueLen", 0, 0x7fffffff, -1);
  c.gso_max_size = IntProp(env, o, "gsoMaxSize", 1280, 65536, -1);
  int ll = BoolProp(env, o, "ipv6LinkLocal");
  if (ll >= 0) c.no_link_local = ll ? 0 : 1;
  return NetlinkWorker::Run(env, "cannot change the link",
                            [c] { return netlink::SetLink(c); });
}

Napi::Value DeleteLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex = Ifindex(env, ObjectArg(info, "deleteLink({ ifindex })"));
  return NetlinkWorker::Run(env, "cannot delete the link",
                            [ifindex] { return netlink::DeleteLink(ifindex); });
}

Napi::Value AddAddress(const Napi::CallbackInfo& info) {
  netlink::Address a = ParseAddress(
      info.Env(),
      ObjectArg(info, "addAddress({ ifindex, address, prefixLength })"));
  return NetlinkWorker::Run(info.Env(), "cannot add the address",
                            [a] { return netlink::AddAddress(a); });
}

Napi::Value DeleteAddress(const Napi::CallbackInfo& info) {
  netlink::Address a = ParseAddress(
      info.Env(),
      ObjectArg(info, "deleteAddress({ ifindex, address, prefixLength })"));
  return NetlinkWorker::Run(info.Env(), "cannot delete the address",
                            [a] { return netlink::DeleteAddress(a); });
}

Napi::Value LinkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "linkInfo(ifindex)");
  auto ifindex =
      static_cast<int>(IntArg(env, info[0], "ifindex", 1, 0x7fffffff));
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
  if (name.find('\0') != std::string::npos || name.size() >= IF_NAMESIZE)
    throw SystemError(env, ENODEV, "if_nametoindex",
                      "no interface \"" + name + "\"");
  unsigned i = if_nametoindex(name.c_str());
  if (i == 0)
    throw SystemError(env, errno, "if_nametoindex",
                      "no interface \"" + name + "\"");
  return Napi::Number::New(env, i);
}

// Parses "a.b.c.d/n" or "x::y/n" (route/cidr: strict, host bits masked as
// the kernel wants them) into a route's destination; false if bad.
bool ParseRouteCidr(Napi::Env env, Napi::Value v, netlink::Route* r) {
  char buf[kMaxText];
  size_t n = 0;
  route::ParsedPrefix p;
  if (ReadAscii(env, v, buf, &n) != napi_ok || n >= kMaxText - 1 ||
      route::ParsePrefix(buf, n, &p) != route::ParseStatus::kOk)
    return false;
  if (p.v6) {
    r->family = AF_INET6;
    route::Store6(p.addr6, r->dst);
  } else {
    r->family = AF_INET;
    for (int i = 0; i < 4; ++i)
      r->dst[i] = static_cast<uint8_t>(p.addr4 >> (24 - 8 * i));
  }
  r->prefix_length = p.len;
  return true;
}

// changeRoutes({ table, add, cidrs: string[], types: Uint8Array, ifindex }):
// types[i] is 1 unicast (through ifindex), 2 throw, 3 blackhole.
Napi::Value ChangeRoutes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o =
      ObjectArg(info, "changeRoutes({ table, add, cidrs, types, ifindex })");
  uint32_t table =
      static_cast<uint32_t>(IntProp(env, o, "table", 1, 0xfffffffe, -1));
  bool add = o.Get("add").ToBoolean().Value();
  Napi::Value cv = o.Get("cidrs");
  Napi::Value tv = o.Get("types");
  if (!cv.IsArray() || !tv.IsTypedArray() ||
      tv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "cidrs must be an array and types a Uint8Array");
  Napi::Array cidrs = cv.As<Napi::Array>();
  Napi::Uint8Array types = tv.As<Napi::Uint8Array>();
  if (types.ElementLength() != cidrs.Length())
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "types must have one entry per cidr");
  int ifindex = static_cast<int>(IntProp(env, o, "ifindex", 0, 0x7fffffff, 0));
  auto routes = std::make_shared<std::vector<netlink::Route>>(cidrs.Length());
  for (uint32_t i = 0; i < cidrs.Length(); ++i) {
    netlink::Route& r = (*routes)[i];
    Napi::Value c = cidrs.Get(i);
    if (!ParseRouteCidr(env, c, &r)) {
      std::string text = c.IsString() ? c.As<Napi::String>().Utf8Value() : "";
      Napi::Error e =
          CodedTypeError(env, "ERR_INVALID_CIDR",
                         "not a CIDR: " + Quote(text.data(), text.size()));
      e.Set("index", Napi::Number::New(env, i));
      throw e;
    }
    static const uint8_t kTypes[] = {0, RTN_UNICAST, RTN_THROW, RTN_BLACKHOLE,
                                     RTN_PROHIBIT};
    if (types[i] < 1 || types[i] > 4)
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "types[i] must be 1, 2, 3 or 4");
    r.type = kTypes[types[i]];
    if (r.type == RTN_UNICAST && ifindex <= 0)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "unicast routes need an ifindex");
    r.oif = ifindex;
    r.table = table;
  }
  auto failed = std::make_shared<size_t>(0);
  return NetlinkWorker::Run(
      env, add ? "cannot add the routes" : "cannot delete the routes",
      [routes, add, failed] {
        return netlink::ChangeRoutes(*routes, add, failed.get());
      });
}

// Runs flush(table) (which returns a count or -errno) off the loop and
// resolves the count: flushTable and flushRules.
Napi::Value RunFlush(const Napi::CallbackInfo& info, const char* usage,
                     const char* what, int (*flush)(uint32_t)) {
  Napi::Env env = info.Env();
  Napi::Object o = ObjectArg(info, usage);
  uint32_t table =
      static_cast<uint32_t>(IntProp(env, o, "table", 1, 0xfffffffe, -1));
  auto count = std::make_shared<int>(0);
  return NetlinkWorker::Run(
      env, what,
      [table, count, flush] {
        int r = flush(table);
        if (r >= 0) *count = r;
        return r < 0 ? r : 0;
      },
      [count](Napi::Env env) -> Napi::Value {
        return Napi::Number::New(env, *count);
      });
}

Napi::Value FlushTable(const Napi::CallbackInfo& info) {
  return RunFlush(info, "flushTable({ table })",
                  "cannot flush the routing table", netlink::FlushTable);
}

netlink::Rule ParseRule(Napi::Env env, Napi::Object o) {
  netlink::Rule r;
  int64_t family = IntProp(env, o, "family", 4, 6, -1);
  if (family != 4 && family != 6)
    throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE", "family must be 4 or 6");
  r.family = family == 4 ? AF_INET : AF_INET6;
  r.goto_target =
      static_cast<uint32_t>(IntProp(env, o, "goto", 1, 0xfffffffe, 0));
  if (r.goto_target == 0)
    r.table =
        static_cast<uint32_t>(IntProp(env, o, "table", 1, 0xfffffffe, -1));
  r.priority =
      static_cast<uint32_t>(IntProp(env, o, "priority", 1, 0xfffffffe, -1));
  Napi::Value uids = o.Get("uidRange");
  if (!uids.IsUndefined()) {
    if (!uids.IsArray() || uids.As<Napi::Array>().Length() != 2)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "uidRange must be [first, last]");
    Napi::Array a = uids.As<Napi::Array>();
    r.uid_start = static_cast<uint32_t>(
        IntArg(env, a.Get(0u), "uidRange[0]", 0, 0xfffffffe));
    r.uid_end = static_cast<uint32_t>(
        IntArg(env, a.Get(1u), "uidRange[1]", 0, 0xfffffffe));
    if (r.uid_start > r.uid_end)
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "uidRange[0] must not be above uidRange[1]");
    r.has_uid_range = true;
  }
  int64_t mark = IntProp(env, o, "fwmark", 1, 0xffffffff, 0);
  r.fwmark = static_cast<uint32_t>(mark);
  int invert = BoolProp(env, o, "invert");
  if (invert > 0 && mark == 0)
    throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                         "invert goes with an fwmark");
  r.invert = invert > 0;
  return r;
}

Napi::Value AddRule(const Napi::CallbackInfo& info) {
  netlink::Rule r = ParseRule(
      info.Env(), ObjectArg(info, "addRule({ family, table, priority })"));
  return NetlinkWorker::Run(info.Env(), "cannot add the policy rule",
                            [r] { return netlink::AddRule(r); });
}

Napi::Value DeleteRule(const Napi::CallbackInfo& info) {
  netlink::Rule r = ParseRule(
      info.Env(), ObjectArg(info, "deleteRule({ family, table, priority })"));
  return NetlinkWorker::Run(info.Env(), "cannot delete the policy rule",
                            [r] { return netlink::DeleteRule(r); });
}

// flushRules({ table, priority? }): the rules that look up the table, and
// those at the priority (a session's goto rules). Resolves how many.
Napi::Value FlushRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = ObjectArg(info, "flushRules({ table, priority? })");
  uint32_t table =
      static_cast<uint32_t>(IntProp(env, o, "table", 1, 0xfffffffe, -1));
  uint32_t priority =
      static_cast<uint32_t>(IntProp(env, o, "priority", 1, 0xfffffffe, 0));
  auto count = std::make_shared<int>(0);
  return NetlinkWorker::Run(
      env, "cannot delete the policy rules",
      [table, priority, count] {
        int r = netlink::FlushRules(table, priority);
        if (r >= 0) *count = r;
        return r < 0 ? r : 0;
      },
      [count](Napi::Env env) -> Napi::Value {
        return Napi::Number::New(env, *count);
      });
}

// listRules(): [{ family: 4 | 6, table, priority }], synchronously (one
// small dump): how a platform finds the tables other instances hold.
Napi::Value ListRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<netlink::Rule> rules;
  int r = netlink::ListRules(&rules);
  if (r < 0)
    throw SystemError(env, -r, "sendmsg", "cannot list the policy rules");
  Napi::Array out = Napi::Array::New(env, rules.size());
  for (size_t i = 0; i < rules.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", rules[i].family == AF_INET6 ? 6 : 4);
    o.Set("table", rules[i].table);
    o.Set("priority", rules[i].priority);
    if (rules[i].fwmark) o.Set("fwmark", rules[i].fwmark);
    if (rules[i].invert) o.Set("invert", true);
    if (rules[i].goto_target) o.Set("goto", rules[i].goto_target);
    if (rules[i].has_uid_range) {
      Napi::Array range = Napi::Array::New(env, 2);
      range.Set(0u, rules[i].uid_start);
      range.Set(1u, rules[i].uid_end);
      o.Set("uidRange", range);
    }
    out.Set(i, o);
  }
  return out;
}

// flushRoutingSync({ table }): the rules that look up `table`, then its
// routes, removed on the calling thread: for the process's 'exit' hook,
// where nothing asynchronous runs any more (an uncaught exception, an
// unhandled rejection, process.exit()). The number of rules removed.
Napi::Value FlushRoutingSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = ObjectArg(info, "flushRoutingSync({ table, priority? })");
  uint32_t table =
      static_cast<uint32_t>(IntProp(env, o, "table", 1, 0xfffffffe, -1));
  uint32_t priority =
      static_cast<uint32_t>(IntProp(env, o, "priority", 1, 0xfffffffe, 0));
  int rules = netlink::FlushRules(table, priority);
  if (rules < 0)
    throw SystemError(env, -rules, "sendmsg", "cannot delete the policy rules");
  int r = netlink::FlushTable(table);
  if (r < 0)
    throw SystemError(env, -r, "sendmsg", "cannot flush the routing table");
  return Napi::Number::New(env, rules);
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
  exports.Set("changeRoutes",
              Napi::Function::New(env, ChangeRoutes, "changeRoutes"));
  exports.Set("flushTable", Napi::Function::New(env, FlushTable, "flushTable"));
  exports.Set("addRule", Napi::Function::New(env, AddRule, "addRule"));
  exports.Set("deleteRule", Napi::Function::New(env, DeleteRule, "deleteRule"));
  exports.Set("flushRules", Napi::Function::New(env, FlushRules, "flushRules"));
  exports.Set("listRules", Napi::Function::New(env, ListRules, "listRules"));
  exports.Set("flushRoutingSync",
              Napi::Function::New(env, FlushRoutingSync, "flushRoutingSync"));
}

}  // namespace vpn
