// C++ unit tests for native/netlink: the message builder and the parsers
// that read what the kernel sends (bounds-checked; also fuzzed).
#include "netlink/netlink.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cstring>
#include <vector>

#include "check.h"

using namespace vpn::netlink;

TEST(MessageLayoutAndAttributes) {
  Message m(RTM_NEWLINK, NLM_F_CREATE);
  ifinfomsg ifi{};
  ifi.ifi_index = 7;
  m.Put(ifi);
  m.AttrU32(IFLA_MTU, 1400);
  m.AttrString(IFLA_IFNAME, "vpn0");
  size_t nest = m.BeginNest(IFLA_LINKINFO);
  m.AttrString(IFLA_INFO_KIND, "tun");
  m.EndNest(nest);
  const nlmsghdr* h = m.header();
  CHECK_EQ(h->nlmsg_len, m.size());
  CHECK_EQ(h->nlmsg_type, RTM_NEWLINK);
  CHECK_EQ(m.size() % 4, 0u);
  const rtattr* tb[IFLA_MAX + 1];
  const uint8_t* attrs = m.data() + NLMSG_LENGTH(sizeof(ifinfomsg));
  CHECK(ParseAttrs(attrs, m.size() - NLMSG_LENGTH(sizeof(ifinfomsg)), tb,
                   IFLA_MAX));
  CHECK(tb[IFLA_MTU] != nullptr);
  uint32_t mtu;
  memcpy(&mtu, RTA_DATA(tb[IFLA_MTU]), 4);
  CHECK_EQ(mtu, 1400u);
  CHECK_EQ(std::string(static_cast<const char*>(RTA_DATA(tb[IFLA_IFNAME]))),
           std::string("vpn0"));
  CHECK(tb[IFLA_LINKINFO] != nullptr);
}

TEST(ParseAttrsRefusesOverruns) {
  uint8_t buf[16] = {};
  rtattr a{};
  a.rta_len = 40;  // longer than the buffer
  a.rta_type = 1;
  memcpy(buf, &a, sizeof a);
  const rtattr* tb[4];
  CHECK(!ParseAttrs(buf, sizeof buf, tb, 3));
  a.rta_len = 2;  // shorter than a header
  memcpy(buf, &a, sizeof a);
  CHECK(!ParseAttrs(buf, sizeof buf, tb, 3));
}

TEST(ForEachMessageStopsAtATruncatedOne) {
  std::vector<uint8_t> buf;
  Message a(NLMSG_DONE, 0), b(NLMSG_DONE, 0);
  buf.insert(buf.end(), a.data(), a.data() + a.size());
  buf.insert(buf.end(), b.data(), b.data() + b.size());
  int seen = 0;
  CHECK(
      ForEachMessage(buf.data(), buf.size(), [&](const nlmsghdr*) { ++seen; }));
  CHECK_EQ(seen, 2);
  seen = 0;
  CHECK(!ForEachMessage(buf.data(), buf.size() - 4,
                        [&](const nlmsghdr*) { ++seen; }));
  CHECK_EQ(seen, 1);
}

TEST(ParseLinkReadsNameMtuAndStats) {
  Message m(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = 3;
  ifi.ifi_flags = IFF_UP;
  m.Put(ifi);
  m.AttrString(IFLA_IFNAME, "tun3");
  m.AttrU32(IFLA_MTU, 9000);
  rtnl_link_stats64 st{};
  st.tx_dropped = 42;
  st.rx_packets = 7;
  m.Attr(IFLA_STATS64, &st, sizeof st);
  LinkInfo info;
  CHECK(ParseLink(m.header(), &info));
  CHECK_EQ(info.ifindex, 3);
  CHECK_EQ(info.name, std::string("tun3"));
  CHECK_EQ(info.mtu, 9000u);
  CHECK_EQ(info.tx_dropped, 42u);
  CHECK_EQ(info.rx_packets, 7u);
  CHECK((info.flags & IFF_UP) != 0);
}

TEST(ParseRouteRuleAndDefaultRoute) {
  Message m(RTM_NEWROUTE, 0);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_dst_len = 0;
  rt.rtm_type = RTN_UNICAST;
  rt.rtm_table = RT_TABLE_MAIN;
  m.Put(rt);
  uint8_t gw[4] = {192, 0, 2, 254};
  m.Attr(RTA_GATEWAY, gw, 4);
  m.AttrU32(RTA_OIF, 5);
  m.AttrU32(RTA_PRIORITY, 100);
  Route r;
  CHECK(ParseRoute(m.header(), &r));
  CHECK_EQ(r.table, static_cast<uint32_t>(RT_TABLE_MAIN));
  CHECK_EQ(r.oif, 5);
  DefaultRoute d;
  CHECK(ParseDefaultRoute(m.header(), AF_INET, &d));
  CHECK_EQ(d.oif, 5);
  CHECK_EQ(d.metric, 100u);
  CHECK(d.has_gateway && d.gateway[3] == 254);
  CHECK(!ParseDefaultRoute(m.header(), AF_INET6, &d));  // another family
  // Another table (in RTA_TABLE, which wins over rtm_table) is not main's.
  m.AttrU32(RTA_TABLE, 30100);
  CHECK(!ParseDefaultRoute(m.header(), AF_INET, &d));
  CHECK(ParseRoute(m.header(), &r));
  CHECK_EQ(r.table, 30100u);
  // A rule is not a route, and the other way round.
  Rule rule;
  CHECK(!ParseRule(m.header(), &rule));
  Message f(RTM_NEWRULE, 0);
  fib_rule_hdr frh{};
  frh.family = AF_INET6;
  f.Put(frh);
  f.AttrU32(FRA_TABLE, 30100);
  f.AttrU32(FRA_PRIORITY, 30101);
  CHECK(ParseRule(f.header(), &rule));
  CHECK_EQ(rule.family, AF_INET6);
  CHECK_EQ(rule.table, 30100u);
  CHECK_EQ(rule.priority, 30101u);
  CHECK_EQ(rule.fwmark, 0u);
  CHECK(!rule.invert);
  CHECK(!ParseRoute(f.header(), &r));
  // A session's rule skips marked packets: `not fwmark 0x7670`.
  Message g(RTM_NEWRULE, 0);
  fib_rule_hdr inv{};
  inv.family = AF_INET;
  inv.flags = FIB_RULE_INVERT;
  g.Put(inv);
  g.AttrU32(FRA_TABLE, 30100);
  g.AttrU32(FRA_FWMARK, 0x7670);
  g.AttrU32(FRA_FWMASK, 0xffffffff);
  CHECK(ParseRule(g.header(), &rule));
  CHECK_EQ(rule.fwmark, 0x7670u);
  CHECK_EQ(rule.fwmask, 0xffffffffu);
  CHECK(rule.invert);
  // Truncated: the fixed header does not fit in nlmsg_len.
  f.header()->nlmsg_len = NLMSG_LENGTH(sizeof(fib_rule_hdr)) - 1;
  CHECK(!ParseRule(f.header(), &rule));
}

TEST(AckErrors) {
  Message ack(NLMSG_ERROR, 0);
  nlmsgerr e{};
  e.error = -EEXIST;
  ack.Put(e);
  CHECK_EQ(AckError(ack.header()), -EEXIST);
  ack.At<nlmsgerr>(NLMSG_HDRLEN)->error = 0;
  CHECK_EQ(AckError(ack.header()), 0);
  ack.At<nlmsgerr>(NLMSG_HDRLEN)->error = 5;  // not an errno the kernel sends
  CHECK_EQ(AckError(ack.header()), -EPROTO);
  ack.header()->nlmsg_len = NLMSG_HDRLEN + 4;  // too short for nlmsgerr
  CHECK_EQ(AckError(ack.header()), -EPROTO);
  Message done(NLMSG_DONE, 0);
  CHECK_EQ(AckError(done.header()), 0);
}

TEST_MAIN()
