// C++ unit tests for native/netlink: the message builder and the parsers
// that read what the kernel sends (bounds-checked; also fuzzed).
#include "netlink/netlink.h"

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

TEST_MAIN()
