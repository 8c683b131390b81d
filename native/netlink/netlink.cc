#include "netlink/netlink.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vpn::netlink {

namespace {
constexpr size_t Align(size_t n) {
  return (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}
}  // namespace

namespace {
// The fixed header T of a message of `type`, with its attributes read into
// tb[0..max]; null if the message is of another type, or too short, or its
// attributes are malformed.
template <typename T>
const T* ParseFixed(const nlmsghdr* h, uint16_t type, const rtattr** tb,
                    uint16_t max) {
  if (h->nlmsg_type != type || h->nlmsg_len < NLMSG_LENGTH(sizeof(T)))
    return nullptr;
  const auto* fixed = static_cast<const T*>(NLMSG_DATA(h));
  const uint8_t* attrs =
      reinterpret_cast<const uint8_t*>(fixed) + NLMSG_ALIGN(sizeof(T));
  if (!ParseAttrs(attrs, h->nlmsg_len - NLMSG_LENGTH(sizeof(T)), tb, max))
    return nullptr;
  return fixed;
}

// Copies an attribute's first `len` bytes to out, if it has that many.
template <typename T>
void ReadAttr(const rtattr* a, T* out, size_t len = sizeof(T)) {
  if (a && RTA_PAYLOAD(a) >= len) memcpy(out, RTA_DATA(a), len);
}
}  // namespace

Message::Message(uint16_t type, uint16_t flags) {
  buf_.resize(NLMSG_HDRLEN);
  nlmsghdr* h = header();
  h->nlmsg_len = NLMSG_HDRLEN;
  h->nlmsg_type = type;
  h->nlmsg_flags = flags;
}

size_t Message::PutBytes(const void* data, size_t len) {
  size_t offset = buf_.size();
  const auto* p = static_cast<const uint8_t*>(data);
  buf_.insert(buf_.end(), p, p + len);
  buf_.resize(offset + Align(len), 0);
  header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
  return offset;
}

void Message::Attr(uint16_t type, const void* data, size_t len) {
  size_t offset = buf_.size();
  buf_.resize(offset + RTA_SPACE(len), 0);
  auto* rta = reinterpret_cast<rtattr*>(buf_.data() + offset);
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  if (len) memcpy(RTA_DATA(rta), data, len);
  header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
}

size_t Message::BeginNest(uint16_t type) {
  size_t offset = buf_.size();
  Attr(static_cast<uint16_t>(type | NLA_F_NESTED), nullptr, 0);
  return offset;
}

void Message::EndNest(size_t offset) {
  auto* rta = reinterpret_cast<rtattr*>(buf_.data() + offset);
  rta->rta_len = static_cast<uint16_t>(buf_.size() - offset);
}

bool ForEachMessage(const uint8_t* buf, size_t len,
                    const std::function<void(const nlmsghdr*)>& fn) {
  size_t off = 0;
  while (len - off >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    memcpy(&h, buf + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > len - off) return false;
    // Messages are handed out in place; the kernel aligns them to 4 bytes.
    fn(reinterpret_cast<const nlmsghdr*>(buf + off));
    size_t step = Align(h.nlmsg_len);
    if (step > len - off) break;
    off += step;
  }
  return off == len;
}

int AckError(const nlmsghdr* h) {
  if (h->nlmsg_type != NLMSG_ERROR) return 0;
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return -EPROTO;
  int error;
  memcpy(&error, NLMSG_DATA(h), sizeof error);
  // An errno is small; anything else is not a kernel's answer.
  return error <= 0 && error > -4096 ? error : -EPROTO;
}

bool ParseAttrs(const uint8_t* data, size_t len, const rtattr** table,
                uint16_t max) {
  for (uint16_t i = 0; i <= max; ++i) table[i] = nullptr;
  size_t off = 0;
  while (len - off >= sizeof(rtattr)) {
    rtattr a;
    memcpy(&a, data + off, sizeof a);
    if (a.rta_len < sizeof(rtattr) || a.rta_len > len - off) return false;
    uint16_t type = a.rta_type & NLA_TYPE_MASK;
    if (type <= max) table[type] = reinterpret_cast<const rtattr*>(data + off);
    size_t step = RTA_ALIGN(a.rta_len);
    if (step > len - off) break;
    off += step;
  }
  return off == len || len - off < sizeof(rtattr);
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

int Socket::Open() {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return -errno;
  int one = 1;
  // Errors come back with the request attached only up to the header.
  setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return -errno;
  rx_.resize(64 * 1024);
  return 0;
}

int Socket::Send(Message& msg) {
  nlmsghdr* h = msg.header();
  h->nlmsg_seq = ++seq_;
  h->nlmsg_pid = 0;
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  while (true) {
    ssize_t n = sendto(fd_, msg.data(), msg.size(), 0,
                       reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    if (n == static_cast<ssize_t>(msg.size())) return 0;
    if (n >= 0) return -EIO;
    if (errno != EINTR) return -errno;
  }
}

int Socket::Receive(uint32_t seq, bool dump,
                    const std::function<void(const nlmsghdr*)>& on_reply) {
  while (true) {
    ssize_t n = recv(fd_, rx_.data(), rx_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    bool done = false;
    int result = 0;
    bool ok = ForEachMessage(rx_.data(), static_cast<size_t>(n),
                             [&](const nlmsghdr* h) {
                               if (done || h->nlmsg_seq != seq) return;
                               if (h->nlmsg_type == NLMSG_ERROR) {
                                 result = AckError(h);
                                 done = true;
                               } else if (h->nlmsg_type == NLMSG_DONE) {
                                 done = true;
                               } else if (on_reply) {
                                 on_reply(h);
                               }
                             });
    if (!ok) return -EPROTO;
    if (done) return result;
    (void)dump;
  }
}

int Socket::RequestMany(std::vector<Message>& msgs, size_t* failed) {
  // Up to kChunk requests per sendmsg; the acks of a chunk are read before
  // the next is sent, so the socket's receive buffer cannot overflow.
  constexpr size_t kChunk = 256;
  std::vector<uint8_t> out;
  for (size_t start = 0; start < msgs.size(); start += kChunk) {
    size_t end = start + kChunk < msgs.size() ? start + kChunk : msgs.size();
    out.clear();
    uint32_t first_seq = seq_ + 1;
    for (size_t i = start; i < end; ++i) {
      nlmsghdr* h = msgs[i].header();
      h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
      h->nlmsg_seq = ++seq_;
      h->nlmsg_pid = 0;
      out.insert(out.end(), msgs[i].data(), msgs[i].data() + msgs[i].size());
    }
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = sendto(fd_, out.data(), out.size(), 0,
                 reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      *failed = start;
      return -errno;
    }
    size_t acked = 0;
    int result = 0;
    size_t bad = 0;
    while (acked < end - start) {
      ssize_t r = recv(fd_, rx_.data(), rx_.size(), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        *failed = start + acked;
        return -errno;
      }
      bool ok = ForEachMessage(
          rx_.data(), static_cast<size_t>(r), [&](const nlmsghdr* h) {
            if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < first_seq ||
                h->nlmsg_seq > seq_)
              return;
            ++acked;
            int err = AckError(h);
            if (err < 0 && result == 0) {
              result = err;
              bad = start + (h->nlmsg_seq - first_seq);
            }
          });
      if (!ok) {
        *failed = start + acked;
        return -EPROTO;
      }
    }
    if (result < 0) {
      *failed = bad;
      return result;
    }
  }
  return 0;
}

int Socket::Request(Message& msg,
                    const std::function<void(const nlmsghdr*)>& on_reply) {
  msg.header()->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  int r = Send(msg);
  if (r < 0) return r;
  return Receive(seq_, false, on_reply);
}

int Socket::Dump(Message& msg,
                 const std::function<void(const nlmsghdr*)>& on_reply) {
  msg.header()->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
  int r = Send(msg);
  if (r < 0) return r;
  return Receive(seq_, true, on_reply);
}

int SetLink(const LinkChange& change) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = change.ifindex;
  if (change.up >= 0) {
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = change.up ? IFF_UP : 0;
  }
  m.Put(ifi);
  if (change.mtu >= 0) m.AttrU32(IFLA_MTU, static_cast<uint32_t>(change.mtu));
  if (change.txqlen >= 0)
    m.AttrU32(IFLA_TXQLEN, static_cast<uint32_t>(change.txqlen));
  if (change.gso_max_size >= 0)
    m.AttrU32(IFLA_GSO_MAX_SIZE, static_cast<uint32_t>(change.gso_max_size));
  if (change.no_link_local >= 0) {
    size_t spec = m.BeginNest(IFLA_AF_SPEC);
    size_t inet6 = m.BeginNest(AF_INET6);
    uint8_t mode =
        change.no_link_local ? IN6_ADDR_GEN_MODE_NONE : IN6_ADDR_GEN_MODE_EUI64;
    m.Attr(IFLA_INET6_ADDR_GEN_MODE, &mode, 1);
    m.EndNest(inet6);
    m.EndNest(spec);
  }
  return s.Request(m);
}

int DeleteLink(int ifindex) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  m.Put(ifi);
  return s.Request(m);
}

namespace {
int ChangeAddress(const Address& a, uint16_t type, uint16_t flags) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m(type, flags);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(a.family);
  ifa.ifa_prefixlen = a.prefix_length;
  ifa.ifa_index = static_cast<uint32_t>(a.ifindex);
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  m.Put(ifa);
  size_t len = a.family == AF_INET ? 4 : 16;
  m.Attr(IFA_LOCAL, a.local, len);
  m.Attr(IFA_ADDRESS, a.has_peer ? a.peer : a.local, len);
  if (a.family == AF_INET && a.has_broadcast)
    m.Attr(IFA_BROADCAST, a.broadcast, 4);
  if (a.family == AF_INET6) m.AttrU32(IFA_FLAGS, IFA_F_NODAD);
  return s.Request(m);
}
}  // namespace

int AddAddress(const Address& address) {
  return ChangeAddress(address, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
}

int DeleteAddress(const Address& address) {
  return ChangeAddress(address, RTM_DELADDR, 0);
}

bool ParseLink(const nlmsghdr* h, LinkInfo* out) {
  const rtattr* tb[IFLA_MAX + 1];
  const auto* ifi = ParseFixed<ifinfomsg>(h, RTM_NEWLINK, tb, IFLA_MAX);
  if (!ifi) return false;
  out->ifindex = ifi->ifi_index;
  out->flags = ifi->ifi_flags;
  if (tb[IFLA_IFNAME]) {
    const char* s = static_cast<const char*>(RTA_DATA(tb[IFLA_IFNAME]));
    out->name.assign(s, strnlen(s, RTA_PAYLOAD(tb[IFLA_IFNAME])));
  }
  ReadAttr(tb[IFLA_MTU], &out->mtu);
  ReadAttr(tb[IFLA_TXQLEN], &out->txqlen);
  if (tb[IFLA_STATS64] && RTA_PAYLOAD(tb[IFLA_STATS64]) >= 8 * 8) {
    rtnl_link_stats64 st{};
    memcpy(&st, RTA_DATA(tb[IFLA_STATS64]),
           RTA_PAYLOAD(tb[IFLA_STATS64]) < sizeof st
               ? RTA_PAYLOAD(tb[IFLA_STATS64])
               : sizeof st);
    out->rx_packets = st.rx_packets;
    out->tx_packets = st.tx_packets;
    out->rx_bytes = st.rx_bytes;
    out->tx_bytes = st.tx_bytes;
    out->rx_errors = st.rx_errors;
    out->tx_errors = st.tx_errors;
    out->rx_dropped = st.rx_dropped;
    out->tx_dropped = st.tx_dropped;
  }
  return true;
}

int GetLink(int ifindex, LinkInfo* out) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  m.Put(ifi);
  bool parsed = false, bad = false;
  r = s.Request(m, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    if (ParseLink(h, out))
      parsed = true;
    else
      bad = true;
  });
  if (r < 0) return r;
  if (bad || !parsed) return -EPROTO;
  return 0;
}

namespace {

Message RouteMessage(const Route& r, bool add) {
  Message m(add ? RTM_NEWROUTE : RTM_DELROUTE,
            add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  rtmsg rt{};
  rt.rtm_family = static_cast<uint8_t>(r.family);
  rt.rtm_dst_len = r.prefix_length;
  rt.rtm_table =
      static_cast<uint8_t>(r.table < 256 ? r.table : RT_TABLE_UNSPEC);
  rt.rtm_type = r.type;
  if (add) {
    rt.rtm_protocol = RTPROT_STATIC;
    rt.rtm_scope = r.type == RTN_UNICAST ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  } else {
    // A deletion matches on what it names: protocol 0 and scope "nowhere"
    // are wildcards (as `ip route del` sends them), so that FlushTable also
    // removes routes someone else added with another protocol or scope.
    rt.rtm_protocol = RTPROT_UNSPEC;
    rt.rtm_scope = RT_SCOPE_NOWHERE;
  }
  m.Put(rt);
  m.Attr(RTA_DST, r.dst, r.family == AF_INET ? 4 : 16);
  m.AttrU32(RTA_TABLE, r.table);
  if (r.type == RTN_UNICAST) m.AttrU32(RTA_OIF, static_cast<uint32_t>(r.oif));
  return m;
}

Message RuleMessage(const Rule& r, bool add) {
  Message m(add ? RTM_NEWRULE : RTM_DELRULE,
            add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  fib_rule_hdr frh{};
  frh.family = static_cast<uint8_t>(r.family);
  frh.action = FR_ACT_TO_TBL;
  frh.table = static_cast<uint8_t>(r.table < 256 ? r.table : RT_TABLE_UNSPEC);
  if (r.invert) frh.flags |= FIB_RULE_INVERT;
  if (r.goto_target) {
    frh.action = FR_ACT_GOTO;
    frh.table = RT_TABLE_UNSPEC;
  }
  m.Put(frh);
  if (r.goto_target)
    m.AttrU32(FRA_GOTO, r.goto_target);
  else
    m.AttrU32(FRA_TABLE, r.table);
  m.AttrU32(FRA_PRIORITY, r.priority);
  if (r.has_uid_range) {
    fib_rule_uid_range range{r.uid_start, r.uid_end};
    m.Attr(FRA_UID_RANGE, &range, sizeof range);
  }
  if (r.fwmark || r.fwmask) {
    m.AttrU32(FRA_FWMARK, r.fwmark);
    m.AttrU32(FRA_FWMASK, r.fwmask ? r.fwmask : 0xffffffffu);
  }
  return m;
}

}  // namespace

// Reads an RTM_NEWROUTE from a dump into a Route (only what deletion needs).
bool ParseRoute(const nlmsghdr* h, Route* out) {
  const rtattr* tb[RTA_MAX + 1];
  const auto* rt = ParseFixed<rtmsg>(h, RTM_NEWROUTE, tb, RTA_MAX);
  if (!rt) return false;
  out->family = rt->rtm_family;
  out->prefix_length = rt->rtm_dst_len;
  out->type = rt->rtm_type;
  out->table = rt->rtm_table;
  ReadAttr(tb[RTA_TABLE], &out->table);
  memset(out->dst, 0, sizeof out->dst);
  ReadAttr(tb[RTA_DST], &out->dst, rt->rtm_family == AF_INET ? 4 : 16);
  out->oif = 0;
  ReadAttr(tb[RTA_OIF], &out->oif);
  return true;
}

// Reads an RTM_NEWRULE from a dump: family, table and priority.
bool ParseRule(const nlmsghdr* h, Rule* out) {
  const rtattr* tb[FRA_MAX + 1];
  const auto* f = ParseFixed<fib_rule_hdr>(h, RTM_NEWRULE, tb, FRA_MAX);
  if (!f) return false;
  out->family = f->family;
  out->table = f->table;
  out->priority = 0;
  ReadAttr(tb[FRA_TABLE], &out->table);
  ReadAttr(tb[FRA_PRIORITY], &out->priority);
  out->fwmark = 0;
  out->fwmask = 0;
  ReadAttr(tb[FRA_FWMARK], &out->fwmark);
  ReadAttr(tb[FRA_FWMASK], &out->fwmask);
  out->invert = (f->flags & FIB_RULE_INVERT) != 0;
  out->goto_target = 0;
  if (f->action == FR_ACT_GOTO) ReadAttr(tb[FRA_GOTO], &out->goto_target);
  fib_rule_uid_range range{0, 0xffffffffu};
  ReadAttr(tb[FRA_UID_RANGE], &range);
  out->has_uid_range = tb[FRA_UID_RANGE] != nullptr &&
                       !(range.start == 0 && range.end == 0xffffffffu);
  out->uid_start = range.start;
  out->uid_end = range.end;
  return true;
}

bool ParseDefaultRoute(const nlmsghdr* h, int family, DefaultRoute* out) {
  const rtattr* tb[RTA_MAX + 1];
  const auto* rt = ParseFixed<rtmsg>(h, RTM_NEWROUTE, tb, RTA_MAX);
  if (!rt || rt->rtm_family != family || rt->rtm_dst_len != 0 ||
      rt->rtm_type != RTN_UNICAST)
    return false;
  uint32_t table = rt->rtm_table;
  ReadAttr(tb[RTA_TABLE], &table);
  if (table != RT_TABLE_MAIN) return false;
  DefaultRoute d;
  ReadAttr(tb[RTA_OIF], &d.oif);
  ReadAttr(tb[RTA_PRIORITY], &d.metric);
  size_t alen = family == AF_INET ? 4 : 16;
  if (tb[RTA_GATEWAY] && RTA_PAYLOAD(tb[RTA_GATEWAY]) >= alen) {
    memcpy(d.gateway, RTA_DATA(tb[RTA_GATEWAY]), alen);
    d.has_gateway = true;
  }
  if (d.oif <= 0) return false;
  *out = d;
  return true;
}

int ChangeRoutes(const std::vector<Route>& routes, bool add, size_t* failed) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  std::vector<Message> msgs;
  msgs.reserve(routes.size());
  for (const Route& route : routes) msgs.push_back(RouteMessage(route, add));
  return s.RequestMany(msgs, failed);
}

int FlushTable(uint32_t table) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  std::vector<Route> found;
  for (int family : {AF_INET, AF_INET6}) {
    Message m(RTM_GETROUTE, 0);
    rtmsg rt{};
    rt.rtm_family = static_cast<uint8_t>(family);
    m.Put(rt);
    r = s.Dump(m, [&](const nlmsghdr* h) {
      Route route;
      if (ParseRoute(h, &route) && route.table == table) found.push_back(route);
    });
    if (r < 0) return r;
  }
  std::vector<Message> msgs;
  for (const Route& route : found) {
    Message m = RouteMessage(route, false);
    msgs.push_back(std::move(m));
  }
  size_t failed = 0;
  r = s.RequestMany(msgs, &failed);
  if (r < 0 && r != -ESRCH) return r;
  return static_cast<int>(found.size());
}

int AddRule(const Rule& rule) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m = RuleMessage(rule, true);
  return s.Request(m);
}

int DeleteRule(const Rule& rule) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m = RuleMessage(rule, false);
  return s.Request(m);
}

int ListRules(std::vector<Rule>* out) {
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  out->clear();
  for (int family : {AF_INET, AF_INET6}) {
    Message m(RTM_GETRULE, 0);
    fib_rule_hdr frh{};
    frh.family = static_cast<uint8_t>(family);
    m.Put(frh);
    r = s.Dump(m, [&](const nlmsghdr* h) {
      Rule rule;
      if (ParseRule(h, &rule)) out->push_back(rule);
    });
    if (r < 0) return r;
  }
  return static_cast<int>(out->size());
}

int FlushRules(uint32_t table, uint32_t priority) {
  std::vector<Rule> all;
  int r = ListRules(&all);
  if (r < 0) return r;
  int n = 0;
  for (const Rule& rule : all) {
    if (rule.table != table && !(priority && rule.priority == priority))
      continue;
    r = DeleteRule(rule);
    if (r < 0 && r != -ENOENT) return r;
    n++;
  }
  return n;
}

int GetDefaultRoute(int family, DefaultRoute* out, bool* found) {
  *found = false;
  Socket s;
  int r = s.Open();
  if (r < 0) return r;
  Message m(RTM_GETROUTE, 0);
  rtmsg rt{};
  rt.rtm_family = static_cast<uint8_t>(family);
  m.Put(rt);
  return s.Dump(m, [&](const nlmsghdr* h) {
    DefaultRoute d;
    if (!ParseDefaultRoute(h, family, &d)) return;
    if (!*found || d.metric < out->metric) {
      *out = d;
      *found = true;
    }
  });
}

int OpenMonitor(int* fd) {
  int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   NETLINK_ROUTE);
  if (s < 0) return -errno;
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    ::close(s);
    return -err;
  }
  *fd = s;
  return 0;
}

int DrainMonitor(int fd, std::vector<uint8_t>* buf) {
  if (buf->size() < 64 * 1024) buf->resize(64 * 1024);
  int messages = 0;
  while (true) {
    ssize_t n = recv(fd, buf->data(), buf->size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the kernel dropped some: a change happened
        ++messages;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return messages > 0 ? messages : -EAGAIN;
      return -errno;
    }
    ForEachMessage(buf->data(), static_cast<size_t>(n),
                   [&](const nlmsghdr*) { ++messages; });
  }
}

}  // namespace vpn::netlink
