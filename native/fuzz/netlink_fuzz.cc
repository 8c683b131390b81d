// libFuzzer target for the netlink message parsers (native/netlink): what
// the kernel sends is read by ForEachMessage, ParseAttrs, ParseLink,
// ParseRoute, ParseRule, ParseDefaultRoute and AckError. On any input: no
// read outside the buffer (ASan), no undefined behaviour (UBSan), every
// attribute a parser hands out lies inside its message, and a parse is
// deterministic. Then, from the same bytes, a route, a rule and a link are
// written with the message builder and must parse back to what was written.
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

// The netlink sources are compiled into the target itself, so that they get
// libFuzzer's coverage instrumentation (vpn_core is built without it); the
// copies in vpn_core are then never pulled from the archive.
#include "netlink/netlink.cc"  // NOLINT(build/include)

using namespace vpn::netlink;

namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

// Every attribute of the table lies inside [begin, end).
void CheckTable(const rtattr* const* tb, int max, const uint8_t* begin,
                const uint8_t* end) {
  for (int i = 0; i <= max; ++i) {
    if (!tb[i]) continue;
    const auto* p = reinterpret_cast<const uint8_t*>(tb[i]);
    Require(p >= begin && p + sizeof(rtattr) <= end);
    Require(p + tb[i]->rta_len <= end && tb[i]->rta_len >= sizeof(rtattr));
  }
}

void ParseOne(const nlmsghdr* h, const uint8_t* buf, size_t len) {
  const auto* start = reinterpret_cast<const uint8_t*>(h);
  Require(start >= buf && start + h->nlmsg_len <= buf + len);
  LinkInfo link;
  bool l1 = ParseLink(h, &link);
  LinkInfo link2;
  Require(ParseLink(h, &link2) == l1);
  if (l1) {
    Require(link.name == link2.name && link.mtu == link2.mtu);
    Require(link.name.size() < 65536);
  }
  Route route;
  if (ParseRoute(h, &route)) {
    Require(route.family ==
            reinterpret_cast<const rtmsg*>(NLMSG_DATA(h))->rtm_family);
  }
  Rule rule;
  (void)ParseRule(h, &rule);
  for (int family : {AF_INET, AF_INET6}) {
    DefaultRoute d;
    if (ParseDefaultRoute(h, family, &d)) Require(d.oif > 0);
  }
  int err = AckError(h);
  Require(err <= 0 && err > -4096);
  if (h->nlmsg_type != NLMSG_ERROR) Require(err == 0);
  // The attributes after each fixed header this message could carry.
  for (size_t fixed : {sizeof(ifinfomsg), sizeof(rtmsg), sizeof(ifaddrmsg),
                       sizeof(fib_rule_hdr)}) {
    if (h->nlmsg_len < NLMSG_LENGTH(fixed)) continue;
    const uint8_t* attrs = start + NLMSG_LENGTH(fixed);
    size_t alen = h->nlmsg_len - NLMSG_LENGTH(fixed);
    const rtattr* tb[RTA_MAX + 1];
    if (ParseAttrs(attrs, alen, tb, RTA_MAX))
      CheckTable(tb, RTA_MAX, attrs, attrs + alen);
  }
}

// Builds messages from the input's bytes and parses them back.
void RoundTrip(const uint8_t* data, size_t size) {
  if (size < 24) return;
  uint32_t table, prio, oif, mtu;
  memcpy(&table, data, 4);
  memcpy(&prio, data + 4, 4);
  memcpy(&oif, data + 8, 4);
  memcpy(&mtu, data + 12, 4);
  bool v6 = data[16] & 1;
  uint8_t dst[16];
  memcpy(dst, data + 8, 16);

  // A route, as FlushTable reads a dump.
  Message rm(RTM_NEWROUTE, 0);
  rtmsg rt{};
  rt.rtm_family = v6 ? AF_INET6 : AF_INET;
  rt.rtm_dst_len = static_cast<uint8_t>(data[17] % (v6 ? 129 : 33));
  rt.rtm_type = RTN_UNICAST;
  rt.rtm_table = RT_TABLE_UNSPEC;
  rm.Put(rt);
  rm.Attr(RTA_DST, dst, v6 ? 16 : 4);
  rm.AttrU32(RTA_TABLE, table);
  rm.AttrU32(RTA_OIF, oif);
  rm.AttrU32(RTA_PRIORITY, prio);
  Route r;
  Require(ParseRoute(rm.header(), &r));
  Require(r.family == rt.rtm_family && r.prefix_length == rt.rtm_dst_len);
  Require(r.table == table && static_cast<uint32_t>(r.oif) == oif);
  Require(memcmp(r.dst, dst, v6 ? 16 : 4) == 0);
  DefaultRoute d;
  bool is_default = rt.rtm_dst_len == 0 && table == RT_TABLE_MAIN &&
                    static_cast<int>(oif) > 0;
  Require(ParseDefaultRoute(rm.header(), rt.rtm_family, &d) == is_default);
  if (is_default) Require(d.metric == prio && !d.has_gateway);

  // A rule, as FlushRules reads a dump.
  Message fm(RTM_NEWRULE, 0);
  fib_rule_hdr frh{};
  frh.family = rt.rtm_family;
  frh.action = FR_ACT_TO_TBL;
  fm.Put(frh);
  fm.AttrU32(FRA_TABLE, table);
  fm.AttrU32(FRA_PRIORITY, prio);
  Rule rule;
  Require(ParseRule(fm.header(), &rule));
  Require(rule.table == table && rule.priority == prio &&
          rule.family == frh.family);

  // A link with a name of the input's bytes (not NUL-terminated).
  Message lm(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = static_cast<int>(oif & 0x7fffffff);
  lm.Put(ifi);
  size_t name_len = (size - 18) % IFNAMSIZ;
  lm.Attr(IFLA_IFNAME, data + 18, name_len);
  lm.AttrU32(IFLA_MTU, mtu);
  LinkInfo link;
  Require(ParseLink(lm.header(), &link));
  Require(link.mtu == mtu && link.ifindex == ifi.ifi_index);
  Require(link.name.size() <= name_len);
  Require(memcmp(link.name.data(), data + 18, link.name.size()) == 0);

  // Acks.
  Message em(NLMSG_ERROR, 0);
  nlmsgerr e{};
  e.error = -static_cast<int>(prio % 200);
  em.Put(e);
  Require(AckError(em.header()) == e.error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy (4-aligned by malloc), so that ASan sees any
  // read past the end, as the kernel's buffer would end there.
  auto* buf = static_cast<uint8_t*>(std::malloc(size ? size : 1));
  if (size) memcpy(buf, data, size);
  size_t visited = 0;
  bool whole = ForEachMessage(buf, size, [&](const nlmsghdr* h) {
    ++visited;
    ParseOne(h, buf, size);
  });
  if (whole && size >= sizeof(nlmsghdr)) Require(visited > 0);
  const rtattr* tb[IFLA_MAX + 1];
  if (ParseAttrs(buf, size, tb, IFLA_MAX))
    CheckTable(tb, IFLA_MAX, buf, buf + size);
  RoundTrip(buf, size);
  std::free(buf);
  return 0;
}
