// The C baseline of bench/tunnel: the job of examples/server.js and
// examples/client.js without JS or N-API, for `npm run demo -- --c-relay`.
// A TUN device with offloads (IFF_VNET_HDR, TSO/USO) on one side, a UDP
// socket with UDP_GRO / UDP_SEGMENT on the other, the same 4-byte header,
// the same MTU; super-packets split with the package's own offload code
// (native/tun/offload.h), coalesced on the way back by its write planner.
// Built by bench/tunnel/run.js (g++); runs only in the demo's namespaces.
//
//   relay server PORT           TUN 198.18.0.1/24, 2001:db8:18::1/64; UDP
//                               [::]:PORT; the client is whoever sends a
//                               datagram with the header
//   relay client ADDRESS PORT   TUN 198.18.0.2/24, 2001:db8:18::2/64; UDP
//                               connected to ADDRESS:PORT
// Prints {"ready":NAME} / {"up":NAME}, then {"stats":{...}} every 500 ms
// (the demo's packets/s), until SIGTERM. OFFLOAD=0 in the environment: the
// TUN device without IFF_VNET_HDR (as the examples do then).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "tun/offload.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

using namespace vpn::tun;

namespace {

constexpr int kMtu = 1420;
constexpr size_t kHead = 4;
const uint8_t kHeader[kHead] = {0x56, 0x50, 1, 0};
constexpr int kReads = 64;       // TUN reads per round
constexpr int kMessages = 32;    // recvmmsg per round
constexpr size_t kSlot = 65536;  // per received message (GRO)

volatile sig_atomic_t stop = 0;
bool offload = true;

[[noreturn]] void die(const char* what) {
  fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
  exit(1);
}

int open_tun(char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) die("open /dev/net/tun");
  ifreq ifr = {};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strcpy(ifr.ifr_name, "relay%d");
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  unsigned all = kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFUso4 | kTunFUso6;
  if (offload && ioctl(fd, TUNSETOFFLOAD, all) < 0 &&
      ioctl(fd, TUNSETOFFLOAD, kTunFCsum | kTunFTso4 | kTunFTso6) < 0)
    die("TUNSETOFFLOAD");
  strcpy(name, ifr.ifr_name);
  return fd;
}

void configure(const char* name, const char* v4, const char* v6) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr = {};
  strcpy(ifr.ifr_name, name);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, v4, &sin->sin_addr);
  if (ioctl(s, SIOCSIFADDR, &ifr) < 0) die("SIOCSIFADDR");
  inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
  if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) die("SIOCSIFNETMASK");
  ifr.ifr_mtu = kMtu;
  if (ioctl(s, SIOCSIFMTU, &ifr) < 0) die("SIOCSIFMTU");
  ifr.ifr_qlen = 1000;
  if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) die("SIOCSIFTXQLEN");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");
  close(s);
  // struct in6_ifreq, from linux/ipv6.h (which clashes with netinet/in.h).
  struct {
    in6_addr addr;
    uint32_t prefixlen;
    int ifindex;
  } r6 = {};
  inet_pton(AF_INET6, v6, &r6.addr);
  r6.prefixlen = 64;
  r6.ifindex = static_cast<int>(if_nametoindex(name));
  int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ioctl(s6, SIOCSIFADDR, &r6) < 0) die("SIOCSIFADDR (IPv6)");
  close(s6);
}

int open_udp(int port) {
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  int zero = 0, one = 1, big = 4 << 20;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) die("UDP_GRO");
  sockaddr_in6 sin = {};
  sin.sin6_family = AF_INET6;
  sin.sin6_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0) die("bind");
  return fd;
}

sockaddr_in6 to_v6(const char* address, int port) {
  sockaddr_in6 s = {};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(static_cast<uint16_t>(port));
  in_addr a4;
  if (inet_pton(AF_INET, address, &a4) == 1) {
    s.sin6_addr.s6_addr[10] = s.sin6_addr.s6_addr[11] = 0xff;
    memcpy(s.sin6_addr.s6_addr + 12, &a4, 4);
  } else if (inet_pton(AF_INET6, address, &s.sin6_addr) != 1) {
    die("address");
  }
  return s;
}

struct Counters {
  unsigned long rx_packets = 0, rx_supers = 0, rx_segments = 0;
  unsigned long tx_packets = 0;
};

struct Relay {
  int tun = -1, udp = -1;
  bool have_peer = false;
  sockaddr_in6 peer = {};
  Counters c;
  // TUN -> UDP: reads land in `in`, splits in `out`, datagrams framed there.
  std::vector<uint8_t> in = std::vector<uint8_t>(kReads * (kMaxVnetRead + 16));
  std::vector<uint8_t> out = std::vector<uint8_t>(4 << 20);
  std::vector<int32_t> meta = std::vector<int32_t>(2 * 4096);
  // UDP -> TUN.
  std::vector<uint8_t> slots = std::vector<uint8_t>(kMessages * kSlot);

  // The datagrams of one round: each a packet with the header before it.
  struct Frame {
    uint8_t* data;
    size_t len;
  };
  std::vector<Frame> frames = std::vector<Frame>(4096);

  // Reads up to kReads packets; a wire-size one is framed where it was
  // read (the header over the end of its virtio header, already parsed),
  // a super-packet is split into frames; sends them in runs of one size.
  bool FromTun() {
    uint32_t nframes = 0;
    size_t used = 0;
    int reads = 0;
    for (; reads < kReads; ++reads) {
      uint8_t* buf = in.data() + reads * (kMaxVnetRead + 16) + (offload ? 6 : 16);
      ssize_t n = read(tun, buf, kMaxVnetRead);
      if (n < 0) {
        if (errno == EAGAIN) break;
        die("read tun");
      }
      size_t skip = offload ? kVnetHdrLen : 0;
      if (n <= static_cast<ssize_t>(skip)) continue;
      VnetHdr h = offload ? ReadVnetHdr(buf) : VnetHdr{};
      uint8_t* pkt = buf + skip;
      size_t len = static_cast<size_t>(n) - skip;
      c.rx_packets++;
      if (h.gso_type == kGsoNone) {
        if ((h.flags & kNeedsCsum) && !FinishChecksum(pkt, len, h)) continue;
        frames[nframes++] = {pkt - kHead, len + kHead};
      } else {
        c.rx_supers++;
        Room room;
        room.head = kHead;
        SegmentResult r = Segment(pkt, len, h, out.data() + used, out.size() - used,
                                  meta.data(), 1024, 0, room);
        if (r.status != SegmentStatus::kOk) continue;
        c.rx_segments += r.count;
        for (uint32_t k = 0; k < r.count; ++k)
          frames[nframes++] = {out.data() + used + meta[2 * k] - kHead,
                               static_cast<size_t>(meta[2 * k + 1]) + kHead};
        used += r.used;
      }
      if (out.size() - used < 2 * kMaxVnetRead || nframes > 4096 - 1100) {
        ++reads;
        break;
      }
    }
    if (nframes && have_peer) Send(nframes);
    return reads == kReads;
  }

  void Send(uint32_t nframes) {
    static mmsghdr msgs[512];
    static iovec iov[4096];
    static char ctl[512][CMSG_SPACE(sizeof(uint16_t))];
    uint32_t m = 0, p = 0, i = 0;
    while (i < nframes && m < 512) {
      size_t size = frames[i].len;
      uint32_t run = 0;
      size_t total = 0;
      uint32_t first_iov = p;
      while (i < nframes && run < 64) {
        uint8_t* f = frames[i].data;
        size_t len = frames[i].len;
        if (run > 0 && (len > size || total + len > 65507)) break;
        memcpy(f, kHeader, kHead);
        if (p > first_iov &&
            static_cast<uint8_t*>(iov[p - 1].iov_base) + iov[p - 1].iov_len == f) {
          iov[p - 1].iov_len += len;
        } else {
          iov[p].iov_base = f;
          iov[p++].iov_len = len;
        }
        total += len;
        ++run;
        ++i;
        if (len < size) break;
      }
      msghdr& h = msgs[m].msg_hdr;
      h = msghdr{};
      h.msg_name = &peer;
      h.msg_namelen = sizeof peer;
      h.msg_iov = iov + first_iov;
      h.msg_iovlen = p - first_iov;
      if (run > 1) {
        h.msg_control = ctl[m];
        h.msg_controllen = sizeof ctl[m];
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t s = static_cast<uint16_t>(size);
        memcpy(CMSG_DATA(c), &s, sizeof s);
      }
      ++m;
    }
    for (uint32_t done = 0; done < m;) {
      int r = sendmmsg(udp, msgs + done, m - done, 0);
      if (r < 0) {
        if (errno == EAGAIN) {
          pollfd w = {udp, POLLOUT, 0};
          poll(&w, 1, 100);
          continue;
        }
        if (errno == ECONNREFUSED) continue;
        die("sendmmsg");
      }
      done += static_cast<uint32_t>(r);
    }
  }

  // One recvmmsg: checks headers, writes the packets, runs coalesced.
  bool FromUdp() {
    static mmsghdr msgs[kMessages];
    static iovec iov[kMessages];
    static sockaddr_in6 names[kMessages];
    static char ctl[kMessages][CMSG_SPACE(sizeof(int))];
    for (int i = 0; i < kMessages; ++i) {
      iov[i] = {slots.data() + i * kSlot, kSlot};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &names[i];
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
      msgs[i].msg_hdr.msg_control = ctl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
    }
    int n = recvmmsg(udp, msgs, kMessages, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == ECONNREFUSED) return false;
      die("recvmmsg");
    }
    static std::vector<PacketRef> pkts;
    pkts.clear();
    for (int i = 0; i < n; ++i) {
      int gso = 0;
      msghdr* h = &msgs[i].msg_hdr;
      for (cmsghdr* c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
          memcpy(&gso, CMSG_DATA(c), sizeof gso);
      size_t len = msgs[i].msg_len;
      size_t step = gso > 0 ? static_cast<size_t>(gso) : len;
      const uint8_t* base = slots.data() + i * kSlot;
      for (size_t off = 0; off < len; off += step) {
        size_t dlen = len - off < step ? len - off : step;
        const uint8_t* d = base + off;
        if (dlen < 24 || memcmp(d, kHeader, 3) != 0) continue;
        if (!have_peer) {
          peer = names[i];
          have_peer = true;
        }
        pkts.push_back({d + kHead, dlen - kHead});
      }
    }
    unsigned all = kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFUso4 | kTunFUso6;
    uint32_t count = static_cast<uint32_t>(pkts.size());
    for (uint32_t k = 0; k < count;) {
      if (!offload) {
        if (write(tun, pkts[k].data, pkts[k].len) < 0 && errno != EAGAIN) die("write tun");
        c.tx_packets++;
        ++k;
        continue;
      }
      WritePlan plan;
      PlanWrite(pkts.data(), count, k, all, &plan);
      iovec v[1 + kMaxCoalesce];
      v[0] = {plan.head, plan.head_len};
      for (uint32_t q = 0; q < plan.count; ++q)
        v[1 + q] = {const_cast<uint8_t*>(pkts[k + q].data) + plan.hdr_len,
                    pkts[k + q].len - plan.hdr_len};
      if (writev(tun, v, 1 + static_cast<int>(plan.count)) < 0 && errno != EAGAIN)
        die("writev tun");
      c.tx_packets += plan.count;
      k += plan.count;
    }
    return n == kMessages;
  }
};

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGTERM, [](int) { stop = 1; });
  bool server = argc >= 3 && !strcmp(argv[1], "server");
  bool client = argc >= 4 && !strcmp(argv[1], "client");
  if (!server && !client) {
    fprintf(stderr, "usage: relay server PORT | relay client ADDRESS PORT\n");
    return 2;
  }
  const char* env = getenv("OFFLOAD");
  offload = !(env && !strcmp(env, "0"));
  Relay r;
  char name[IFNAMSIZ];
  r.tun = open_tun(name);
  if (server) {
    configure(name, "198.18.0.1", "2001:db8:18::1");
    r.udp = open_udp(atoi(argv[2]));
    printf("{\"ready\":\"%s\",\"listen\":\"[::]:%s\",\"mtu\":%d}\n", name, argv[2], kMtu);
  } else {
    configure(name, "198.18.0.2", "2001:db8:18::2");
    r.udp = open_udp(0);
    r.peer = to_v6(argv[2], atoi(argv[3]));
    r.have_peer = true;
    printf("{\"up\":\"%s\"}\n", name);
  }
  double next = now() + 0.5;
  while (!stop) {
    pollfd p[2] = {{r.tun, POLLIN, 0}, {r.udp, POLLIN, 0}};
    int n = poll(p, 2, 100);
    if (n < 0 && errno != EINTR) die("poll");
    if (p[0].revents & POLLIN)
      for (int k = 0; k < 8 && r.FromTun(); ++k) {
      }
    if (p[1].revents & POLLIN)
      for (int k = 0; k < 8 && r.FromUdp(); ++k) {
      }
    if (now() >= next) {
      next += 0.5;
      printf(
          "{\"stats\":{\"rxPackets\":%lu,\"rxSuperPackets\":%lu,\"rxSegments\":%lu,"
          "\"txPackets\":%lu}}\n",
          r.c.rx_packets, r.c.rx_supers, r.c.rx_segments, r.c.tx_packets);
    }
  }
  return 0;
}
