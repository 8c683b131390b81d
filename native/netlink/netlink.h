// A small rtnetlink client of our own: links, addresses, link statistics.
// Blocking round trips on a NETLINK_ROUTE socket; the binding runs them off
// the event loop. No N-API here, so the unit tests and fuzzers link it.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vpn::netlink {

// A request under construction: header, fixed payload, attributes (nests too).
class Message {
 public:
  Message(uint16_t type, uint16_t flags);

  // Appends a fixed struct (ifinfomsg, ifaddrmsg, rtmsg...) and returns its
  // offset; payload at that offset can be changed with At<T>() until sent.
  template <typename T>
  size_t Put(const T& value) {
    return PutBytes(&value, sizeof value);
  }
  template <typename T>
  T* At(size_t offset) {
    return reinterpret_cast<T*>(buf_.data() + offset);
  }
  void Attr(uint16_t type, const void* data, size_t len);
  void AttrU32(uint16_t type, uint32_t value) {
    Attr(type, &value, sizeof value);
  }
  void AttrString(uint16_t type, const std::string& s) {
    Attr(type, s.c_str(), s.size() + 1);
  }
  size_t BeginNest(uint16_t type);
  void EndNest(size_t offset);

  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  const uint8_t* data() const { return buf_.data(); }
  size_t size() const { return buf_.size(); }

 private:
  size_t PutBytes(const void* data, size_t len);
  std::vector<uint8_t> buf_;
};

// Calls fn(header) for each whole message in buf; returns false if the buffer
// holds a truncated or malformed message (the ones before it were visited).
bool ForEachMessage(const uint8_t* buf, size_t len,
                    const std::function<void(const nlmsghdr*)>& fn);

// Fills table[type] (type <= max) with each attribute of the run at
// data[0..len); later duplicates win, unknown types are skipped. Returns false
// on a malformed run (a length that overruns the buffer or is too short).
bool ParseAttrs(const uint8_t* data, size_t len, const rtattr** table,
                uint16_t max);

class Socket {
 public:
  // Sends many requests (each with NLM_F_ACK) in few sendmsg calls and reads
  // their acks; stops at the first failure. Returns 0, or -errno with
  // *failed set to the index of the request that failed.
  int RequestMany(std::vector<Message>& msgs, size_t* failed);
  Socket() = default;
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int Open();  // 0 or -errno
  // Sends the request with NLM_F_ACK and waits for the kernel's answer:
  // 0 or -errno. Replies other than the ack go to on_reply, if given.
  int Request(Message& msg,
              const std::function<void(const nlmsghdr*)>& on_reply = nullptr);
  // Sends a dump request and calls on_reply for each reply until NLMSG_DONE.
  int Dump(Message& msg, const std::function<void(const nlmsghdr*)>& on_reply);
  int fd() const { return fd_; }

 private:
  int Send(Message& msg);
  int Receive(uint32_t seq, bool dump,
              const std::function<void(const nlmsghdr*)>& on_reply);
  int fd_ = -1;
  uint32_t seq_ = 0;
  std::vector<uint8_t> rx_;
};

struct LinkChange {
  int ifindex = 0;
  int up = -1;          // -1: leave as is; 0: down; 1: up
  int64_t mtu = -1;     // -1: leave as is
  int64_t txqlen = -1;  // -1: leave as is
  // The largest super-packet the kernel hands a device with offloads
  // (IFLA_GSO_MAX_SIZE); -1: leave as is.
  int64_t gso_max_size = -1;
  // 1: no IPv6 link-local address (addr_gen_mode none), as a point-to-point
  // tunnel wants; -1: leave as is.
  int no_link_local = -1;
};
int SetLink(const LinkChange& change);
int DeleteLink(int ifindex);

struct Address {
  int ifindex = 0;
  int family = 0;  // AF_INET or AF_INET6
  uint8_t local[16] = {};
  uint8_t prefix_length = 0;
  bool has_peer = false;
  uint8_t peer[16] = {};
  bool has_broadcast = false;  // IPv4 only
  uint8_t broadcast[4] = {};
};
int AddAddress(const Address& address);
int DeleteAddress(const Address& address);

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  uint32_t mtu = 0;
  uint32_t flags = 0;
  uint32_t txqlen = 0;
  uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  uint64_t rx_dropped = 0, tx_dropped = 0, rx_errors = 0, tx_errors = 0;
};
int GetLink(int ifindex, LinkInfo* out);

// Routes in a table of the session's own: unicast through the TUN device for
// inclusions, throw (fall through to the next rule) for exclusions,
// blackhole (e.g. ::/0 against IPv6 leaks).
struct Route {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t dst[16] = {};
  uint8_t prefix_length = 0;
  uint8_t type = 0;  // RTN_UNICAST, RTN_THROW, RTN_BLACKHOLE or RTN_PROHIBIT
  int oif = 0;       // unicast only
  uint32_t table = 0;
};
// Adds (replacing) or deletes routes in batches. 0, or -errno with *failed.
int ChangeRoutes(const std::vector<Route>& routes, bool add, size_t* failed);
// Deletes every route in `table` (both families). Returns how many, or -errno.
int FlushTable(uint32_t table);

// The main table's default route of a family: the one with the lowest
// metric. 0 with *found false when there is none.
struct DefaultRoute {
  int oif = 0;
  uint32_t metric = 0;
  uint8_t gateway[16] = {};
  bool has_gateway = false;
};
int GetDefaultRoute(int family, DefaultRoute* out, bool* found);

// A socket subscribed to link and route changes (non-blocking).
int OpenMonitor(int* fd);
// Reads what is queued on a monitor socket; returns how many messages, or
// -errno (-EAGAIN when none). ENOBUFS (overrun) counts as "something changed".
int DrainMonitor(int fd, std::vector<uint8_t>* buf);

// "from all lookup <table>" at <priority>.
struct Rule {
  int family = 0;
  uint32_t table = 0;
  uint32_t priority = 0;
  // With fwmark: the rule selects packets whose mark (under fwmask, all
  // bits if 0) is fwmark, or with invert those whose mark is not: a
  // session's rule skips the packets of protected sockets.
  uint32_t fwmark = 0;
  uint32_t fwmask = 0;
  bool invert = false;
  // goto_target != 0: FR_ACT_GOTO to the first rule of that priority (the
  // main table's, 32766: skip the rules in between) instead of a lookup.
  uint32_t goto_target = 0;
  // has_uid_range: the rule selects only sockets of uids uid_start..uid_end.
  bool has_uid_range = false;
  uint32_t uid_start = 0;
  uint32_t uid_end = 0;
};
int AddRule(const Rule& rule);
int DeleteRule(const Rule& rule);
// Every rule of both families (as ParseRule reads them). How many, or -errno.
int ListRules(std::vector<Rule>* out);
// Deletes every rule (both families) that looks up `table`, and with
// priority != 0 every rule at that priority (a session's goto rules look up
// no table). How many, or -errno.
int FlushRules(uint32_t table, uint32_t priority = 0);
// The parsers of what the kernel sends, each bounds-checked against the
// message's own length (and fuzzed: native/fuzz/netlink_fuzz.cc).
// An RTM_NEWLINK message (as GetLink receives it). False if malformed.
bool ParseLink(const nlmsghdr* h, LinkInfo* out);
// An RTM_NEWROUTE message of a dump: family, destination, length, type,
// table, output interface. False if not one, or malformed.
bool ParseRoute(const nlmsghdr* h, Route* out);
// An RTM_NEWRULE message of a dump: family, table, priority.
bool ParseRule(const nlmsghdr* h, Rule* out);
// An RTM_NEWROUTE of `family` that is a usable default route of the main
// table (unicast, /0, an output interface). False otherwise.
bool ParseDefaultRoute(const nlmsghdr* h, int family, DefaultRoute* out);
// The error of an NLMSG_ERROR answer: 0 (an ack), a negative errno, or
// -EPROTO when truncated or out of range; 0 for any other message type.
int AckError(const nlmsghdr* h);

}  // namespace vpn::netlink
