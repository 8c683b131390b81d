// C++ unit tests for native/tun: batch reads, packet checks, names. A
// SOCK_SEQPACKET socketpair stands in for the TUN fd (it keeps boundaries).
#include "tun/tun.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "check.h"

using vpn::tun::kMaxPacket;

namespace {
struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, fds) == 0) {
      a = fds[0];
      b = fds[1];
    }
  }
  ~Pair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
};

std::vector<uint8_t> Packet(size_t len, uint8_t seed) {
  std::vector<uint8_t> p(len);
  for (size_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
  p[0] = 0x45;
  return p;
}
}  // namespace

TEST(ReadBatchDrainsInOrderAndAligns) {
  Pair s;
  CHECK(s.a >= 0);
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(Packet(13 + i * 100, static_cast<uint8_t>(i)));
    CHECK_EQ(vpn::tun::WritePacket(s.a, sent.back().data(), sent.back().size()),
             1);
  }
  std::vector<uint8_t> slab(kMaxPacket * 2);
  int32_t meta[2 * 16];
  auto r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 16);
  CHECK_EQ(r.count, 5u);
  CHECK_EQ(r.error, 0);
  CHECK(!r.full);
  size_t bytes = 0;
  for (uint32_t i = 0; i < r.count; ++i) {
    CHECK_EQ(meta[2 * i] % 8, 0);
    CHECK_EQ(static_cast<size_t>(meta[2 * i + 1]), sent[i].size());
    CHECK(memcmp(slab.data() + meta[2 * i], sent[i].data(), sent[i].size()) ==
          0);
    bytes += sent[i].size();
  }
  CHECK_EQ(r.bytes, bytes);
}

TEST(ReadBatchStopsAtTheBatchLimit) {
  Pair s;
  auto p = Packet(64, 1);
  for (int i = 0; i < 10; ++i) vpn::tun::WritePacket(s.a, p.data(), p.size());
  std::vector<uint8_t> slab(kMaxPacket * 2);
  int32_t meta[2 * 4];
  auto r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 4);
  CHECK_EQ(r.count, 4u);
  CHECK(r.full);
  r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 4);
  CHECK_EQ(r.count, 4u);
  r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 4);
  CHECK_EQ(r.count, 2u);
  CHECK(!r.full);
}

TEST(ReadBatchNeverOffersLessThanAWholePacket) {
  // Room for one 65535-byte read plus a little: the second packet must wait
  // for the next batch rather than be truncated.
  Pair s;
  int big = 1 << 20;
  setsockopt(s.a, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(s.b, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  auto p = Packet(60000, 3);
  CHECK_EQ(vpn::tun::WritePacket(s.a, p.data(), p.size()), 1);
  CHECK_EQ(vpn::tun::WritePacket(s.a, p.data(), p.size()), 1);
  std::vector<uint8_t> slab(kMaxPacket + 100);
  int32_t meta[2 * 8];
  auto r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 8);
  CHECK_EQ(r.count, 1u);
  CHECK(r.full);
  CHECK_EQ(meta[1], 60000);
  r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 8);
  CHECK_EQ(r.count, 1u);
  CHECK_EQ(meta[1], 60000);
}

TEST(ReadBatchReportsAClosedPeer) {
  Pair s;
  close(s.a);
  s.a = -1;
  std::vector<uint8_t> slab(kMaxPacket + 8);
  int32_t meta[2];
  auto r = vpn::tun::ReadBatch(s.b, slab.data(), slab.size(), meta, 1);
  CHECK_EQ(r.count, 0u);
  CHECK_EQ(r.error, EPIPE);
}

TEST(WritePacketSaysEagainWhenFull) {
  Pair s;
  auto p = Packet(4000, 9);
  int r = 1;
  for (int i = 0; i < 100000 && r == 1; ++i)
    r = vpn::tun::WritePacket(s.a, p.data(), p.size());
  CHECK_EQ(r, 0);
}

TEST(CheckPacketRefusesWhatIsNotAnIpPacket) {
  const char* code = nullptr;
  uint8_t v4[20] = {0x45}, v6[40] = {0x60}, other[4] = {0x15};
  CHECK(vpn::tun::CheckPacket(v4, sizeof v4, &code) == nullptr);
  CHECK(vpn::tun::CheckPacket(v6, sizeof v6, &code) == nullptr);
  CHECK(vpn::tun::CheckPacket(v4, 0, &code) != nullptr);
  CHECK_EQ(std::string(code), std::string("ERR_EMPTY_PACKET"));
  CHECK(vpn::tun::CheckPacket(other, sizeof other, &code) != nullptr);
  CHECK_EQ(std::string(code), std::string("ERR_NOT_IP_PACKET"));
  std::vector<uint8_t> huge(kMaxPacket + 1, 0x45);
  CHECK(vpn::tun::CheckPacket(huge.data(), huge.size(), &code) != nullptr);
  CHECK_EQ(std::string(code), std::string("ERR_PACKET_TOO_LARGE"));
}

TEST(InterfaceNames) {
  CHECK(vpn::tun::CheckInterfaceName("vpn0") == nullptr);
  CHECK(vpn::tun::CheckInterfaceName("vpn%d") == nullptr);
  CHECK(vpn::tun::CheckInterfaceName("") != nullptr);
  CHECK(vpn::tun::CheckInterfaceName("0123456789abcdef") != nullptr);
  CHECK(vpn::tun::CheckInterfaceName("a/b") != nullptr);
  CHECK(vpn::tun::CheckInterfaceName("a b") != nullptr);
  CHECK(vpn::tun::CheckInterfaceName("a:b") != nullptr);
  CHECK(vpn::tun::CheckInterfaceName("..") != nullptr);
}

TEST_MAIN()
