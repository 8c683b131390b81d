// C++ unit tests for native/tun/offload: checksums against a plain
// big-endian reference, and the round trip that matters: a run of segments
// coalesced by PlanWrite, then split by Segment, gives back the same bytes.
#include "tun/offload.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "packets.h"
#include "tun/tun.h"

using namespace vpn::tun;
using namespace testpkt;

namespace {

// Coalesce then segment; checks the super-packet's checksum and the
// segments' bytes against the originals.
void RoundTrip(const Flow& f, uint32_t n, size_t g, size_t last) {
  std::vector<Bytes> run = MakeRun(f, n, g, last);
  std::vector<PacketRef> refs = Refs(run);
  WritePlan plan;
  PlanWrite(refs.data(), n, 0, kAll, &plan);
  CHECK_EQ(plan.count, n);
  Bytes super = Assemble(plan, run, 0);
  CHECK_EQ(super.size(), plan.total);
  VnetHdr h = ReadVnetHdr(plan.head);
  CHECK_EQ(h.flags, kNeedsCsum);
  CHECK_EQ(h.gso_size, g);
  CHECK_EQ(SegmentCount(super.data(), super.size(), h), n);
  CHECK_EQ(h.gso_type, f.tcp ? (f.v6 ? kGsoTcp6 : kGsoTcp4) : kGsoUdpL4);
  // The kernel's side of NEEDS_CSUM: finish it, and it must be valid.
  Bytes finished(super);
  CHECK(FinishChecksum(finished.data(), finished.size(), h));
  Layout l;
  CHECK(ParseLayout(finished.data(), finished.size(), &l));
  CHECK(TransportChecksumValid(finished.data(), finished.size(), l));

  Bytes out(super.size() + n * 128);
  std::vector<int32_t> meta(2 * n);
  SegmentResult r = Segment(super.data(), super.size(), h, out.data(),
                            out.size(), meta.data(), n, 100);
  CHECK(r.status == SegmentStatus::kOk);
  CHECK_EQ(r.count, n);
  for (uint32_t i = 0; i < r.count && i < n; ++i) {
    CHECK_EQ(meta[2 * i] % 8, 100 % 8);
    Bytes seg(out.begin() + (meta[2 * i] - 100),
              out.begin() + (meta[2 * i] - 100) + meta[2 * i + 1]);
    CHECK(seg == run[i]);
  }
}

}  // namespace

TEST(SumMatchesTheReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  for (size_t len = 0; len < 300; ++len) {
    Bytes buf(len + 8);
    for (auto& x : buf) x = static_cast<uint8_t>(rng());
    for (size_t at = 0; at < 4; ++at) {
      Bytes none;
      uint16_t want = RefChecksum(none, buf.data() + at, len);
      uint8_t got[2];
      StoreSum16(got, static_cast<uint16_t>(~Fold(Sum(buf.data() + at, len))));
      CHECK_EQ(Get16(got), want);
    }
  }
}

TEST(MadeSegmentsHaveValidChecksums) {
  for (bool v6 : {false, true}) {
    for (bool tcp : {false, true}) {
      Flow f{v6, tcp, 12};
      Bytes p = MakeSegment(f, 3, 1000, 5);
      Layout l;
      CHECK(ParseLayout(p.data(), p.size(), &l));
      CHECK(TransportChecksumValid(p.data(), p.size(), l));
      p[p.size() - 1] ^= 1;
      CHECK(!TransportChecksumValid(p.data(), p.size(), l));
    }
  }
}

TEST(CoalesceThenSegmentGivesBackTheSameBytes) {
  for (bool v6 : {false, true}) {
    for (bool tcp : {false, true}) {
      Flow f{v6, tcp, tcp ? 12u : 0u};
      RoundTrip(f, 2, 1400, 1400);
      RoundTrip(f, 45, 1400, 1400);
      RoundTrip(f, 30, 1400, 17);
      RoundTrip(f, 3, 1, 1);
    }
  }
  RoundTrip(Flow{false, true, 0}, 40, 1448, 999);
}

TEST(RunsStopAtTheLimits) {
  Flow f;
  // 64 KiB: 50 segments of 1400 cannot all go.
  std::vector<Bytes> run = MakeRun(f, 50, 1400, 1400);
  std::vector<PacketRef> refs = Refs(run);
  WritePlan plan;
  PlanWrite(refs.data(), 50, 0, kAll, &plan);
  CHECK(plan.count > 1);
  CHECK(plan.total <= 0xffff);
  CHECK(plan.total + 1400 > 0xffff);
  // The rest goes as the next run.
  uint32_t next = plan.count;
  PlanWrite(refs.data(), 50, next, kAll, &plan);
  CHECK_EQ(next + plan.count, 50u);
}

TEST(PacketsThatMustNotJoinGoAlone) {
  Flow f;
  auto count = [](const std::vector<Bytes>& run, unsigned offloads) {
    std::vector<PacketRef> refs = Refs(run);
    WritePlan plan;
    PlanWrite(refs.data(), static_cast<uint32_t>(refs.size()), 0, offloads,
              &plan);
    return plan.count;
  };
  std::vector<Bytes> run = MakeRun(f, 4, 1000, 1000);
  CHECK_EQ(count(run, kAll), 4u);
  CHECK_EQ(count(run, kTunFCsum), 1u);              // no TSO
  CHECK_EQ(count(run, kTunFTso4 | kTunFTso6), 1u);  // no checksum offload
  CHECK_EQ(count(run, kTunFCsum | kTunFTso6), 1u);  // IPv4 needs TSO4

  std::vector<Bytes> bad = run;  // a bad checksum ends the run before it
  bad[2][bad[2].size() - 1] ^= 0x40;
  CHECK_EQ(count(bad, kAll), 2u);
  bad = run;
  bad[0][bad[0].size() - 1] ^= 0x40;  // ... or leaves the first alone
  CHECK_EQ(count(bad, kAll), 1u);

  std::vector<Bytes> gap = run;  // a sequence gap
  gap[2] = MakeSegment(f, 2, 1000, 1000000 + 2001);
  CHECK_EQ(count(gap, kAll), 2u);

  std::vector<Bytes> psh = MakeRun(f, 4, 1000, 1000);  // PSH ends a run
  psh[1] = MakeSegment(f, 1, 1000, 1000000 + 1000, 0x18);
  CHECK_EQ(count(psh, kAll), 2u);

  std::vector<Bytes> syn = run;  // not a plain data segment
  syn[0] = MakeSegment(f, 0, 1000, 1000000, 0x12);
  CHECK_EQ(count(syn, kAll), 1u);

  std::vector<Bytes> shortmid = MakeRun(f, 4, 1000, 1000);
  shortmid[1] = MakeSegment(f, 1, 500, 1000000 + 1000);
  shortmid[2] = MakeSegment(f, 2, 1000, 1000000 + 1500);
  CHECK_EQ(count(shortmid, kAll), 2u);  // a short one is the last

  std::vector<Bytes> ttl = run;  // a different TTL
  ttl[1][8] = 63;
  ttl[1][10] = ttl[1][11] = 0;
  Bytes none;
  Put16(ttl[1].data() + 10, RefChecksum(none, ttl[1].data(), 20));
  CHECK_EQ(count(ttl, kAll), 1u);

  Flow udp{false, false, 0};
  std::vector<Bytes> u = MakeRun(udp, 4, 1000, 1000);
  CHECK_EQ(count(u, kAll), 4u);
  CHECK_EQ(count(u, kTunFCsum | kTunFTso4 | kTunFTso6), 1u);  // no USO
}

// Sets the TCP/UDP checksum of p (made by MakeSegment) to the right value
// for the bytes it now holds.
static void Resum(const Flow& f, Bytes& p) {
  size_t ip = f.v6 ? 40 : 20;
  uint8_t* t = p.data() + ip;
  size_t l4 = p.size() - ip;
  size_t field = f.tcp ? 16 : 6;
  t[field] = t[field + 1] = 0;
  Bytes pseudo(p.data() + (f.v6 ? 8 : 12), p.data() + (f.v6 ? 40 : 20));
  Bytes tail = {
      0, 0, static_cast<uint8_t>(l4 >> 8),       static_cast<uint8_t>(l4), 0,
      0, 0, static_cast<uint8_t>(f.tcp ? 6 : 17)};
  if (!f.v6) tail = {0, tail[7], tail[2], tail[3]};
  pseudo.insert(pseudo.end(), tail.begin(), tail.end());
  uint16_t c = RefChecksum(pseudo, t, l4);
  if (!f.tcp && c == 0) c = 0xffff;
  Put16(t + field, c);
}

// Found by offload_fuzz (its split-back oracle): what a super-packet's
// segments get from its first header must be what each packet had.
TEST(APacketLeftOutOrDifferingInHeaderChangesNothingInTheRun) {
  for (bool v6 : {false, true}) {
    Flow f{v6, true, 12};
    size_t flags_at = (v6 ? 40 : 20) + 13;
    auto plan_of = [](const std::vector<Bytes>& run, WritePlan* plan) {
      std::vector<PacketRef> refs = Refs(run);
      PlanWrite(refs.data(), static_cast<uint32_t>(refs.size()), 0, kAll, plan);
    };
    // PSH on a packet that its bad checksum keeps out: not on the run.
    std::vector<Bytes> run = MakeRun(f, 4, 1000, 1000);
    run[3] = MakeSegment(f, 3, 1000, 1000000 + 3000, 0x18);
    run[3][run[3].size() - 1] ^= 0x40;
    WritePlan plan;
    plan_of(run, &plan);
    CHECK_EQ(plan.count, 3u);
    CHECK_EQ(static_cast<int>(plan.head[kVnetHdrLen + flags_at]), 0x10);

    // A window update, a different urgent pointer or reserved bits: the
    // run ends before that packet (Linux's GRO asks the same).
    for (size_t at : {14u, 15u, 18u, 19u, 12u}) {
      std::vector<Bytes> r = MakeRun(f, 4, 1000, 1000);
      r[2][(v6 ? 40 : 20) + at] ^= 1;
      Resum(f, r[2]);
      plan_of(r, &plan);
      CHECK_EQ(plan.count, 2u);
    }

    // A UDP length field that is not the datagram's (checksum right for it).
    Flow udp{v6, false, 0};
    std::vector<Bytes> u = MakeRun(udp, 4, 1000, 1000);
    Put16(u[2].data() + (v6 ? 40 : 20) + 4, 500);
    Resum(udp, u[2]);
    plan_of(u, &plan);
    CHECK_EQ(plan.count, 2u);
    Put16(u[0].data() + (v6 ? 40 : 20) + 4, 500);
    Resum(udp, u[0]);
    plan_of(u, &plan);
    CHECK_EQ(plan.count, 1u);
  }
}

TEST(SegmentRefusesMalformedAndReportsNoRoom) {
  Flow f;
  std::vector<Bytes> run = MakeRun(f, 3, 1000, 1000);
  std::vector<PacketRef> refs = Refs(run);
  WritePlan plan;
  PlanWrite(refs.data(), 3, 0, kAll, &plan);
  Bytes super = Assemble(plan, run, 0);
  VnetHdr h = ReadVnetHdr(plan.head);
  Bytes out(8192);
  std::vector<int32_t> meta(16);
  SegmentResult r = Segment(super.data(), super.size(), h, out.data(), 2000,
                            meta.data(), 8, 0);
  CHECK(r.status == SegmentStatus::kNoRoom);
  r = Segment(super.data(), super.size(), h, out.data(), out.size(),
              meta.data(), 2, 0);
  CHECK(r.status == SegmentStatus::kNoRoom);
  VnetHdr wrong = h;
  wrong.gso_type = kGsoTcp6;  // IPv4 packet
  r = Segment(super.data(), super.size(), wrong, out.data(), out.size(),
              meta.data(), 8, 0);
  CHECK(r.status == SegmentStatus::kMalformed);
  wrong = h;
  wrong.gso_size = 0;
  r = Segment(super.data(), super.size(), wrong, out.data(), out.size(),
              meta.data(), 8, 0);
  CHECK(r.status == SegmentStatus::kMalformed);
  r = Segment(super.data(), super.size() - 5, h, out.data(), out.size(),
              meta.data(), 8, 0);  // IP length disagrees
  CHECK(r.status == SegmentStatus::kMalformed);
}

TEST(FinishChecksumCompletesAPartialOne) {
  for (bool v6 : {false, true}) {
    Flow f{v6, true, 0};
    Bytes p = MakeSegment(f, 0, 333, 1);
    Layout l;
    CHECK(ParseLayout(p.data(), p.size(), &l));
    // What the kernel hands over: the pseudo-header sum in the field.
    uint8_t* field = p.data() + l.ip_len + 16;
    field[0] = field[1] = 0;
    StoreSum16(field, Fold(PseudoSum(p.data(), l, p.size() - l.ip_len)));
    CHECK(!TransportChecksumValid(p.data(), p.size(), l));
    VnetHdr h;
    h.flags = kNeedsCsum;
    h.csum_start = l.ip_len;
    h.csum_offset = 16;
    CHECK(FinishChecksum(p.data(), p.size(), h));
    CHECK(TransportChecksumValid(p.data(), p.size(), l));
    h.csum_offset = 4000;
    CHECK(!FinishChecksum(p.data(), p.size(), h));
  }
}

TEST(ReadBatchWithVnetHeadersParsesThemAndAligns) {
  int fds[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, fds), 0);
  Flow f;
  for (int i = 0; i < 3; ++i) {
    Bytes p = MakeSegment(f, i, 100 + i, 0);
    if (i == 1) {  // checksum left to the reader: the pseudo-header sum
      Layout l;
      CHECK(ParseLayout(p.data(), p.size(), &l));
      p[36] = p[37] = 0;
      StoreSum16(p.data() + 36, Fold(PseudoSum(p.data(), l, p.size() - 20)));
    }
    VnetHdr h;
    h.flags = static_cast<uint8_t>(i);
    h.gso_type = i == 2 ? kGsoTcp4 : kGsoNone;
    h.gso_size = static_cast<uint16_t>(1400 + i);
    h.csum_start = 20;
    h.csum_offset = 16;
    Bytes w(kVnetHdrLen);
    WriteVnetHdr(w.data(), h);
    w.insert(w.end(), p.begin(), p.end());
    CHECK_EQ(write(fds[1], w.data(), w.size()), static_cast<ssize_t>(w.size()));
  }
  Bytes slab(4 * kMaxVnetRead);
  int32_t meta[8];
  uint16_t gso[32] = {};
  ReadResult r = ReadBatch(fds[0], slab.data(), slab.size(), meta, 4, gso);
  CHECK_EQ(r.count, 3u);
  CHECK_EQ(r.gso, 1u);  // the super-packet; packet 1's checksum is finished
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(meta[2 * i] % 8, 0);
    CHECK_EQ(meta[2 * i + 1], 20 + 32 + 100 + i);
    CHECK_EQ(slab[meta[2 * i]], 0x45);
    CHECK_EQ(gso[8 * i], i == 1 ? 0 : i);  // NEEDS_CSUM cleared once done
    CHECK_EQ(gso[8 * i + 3], 1400 + i);
    Layout l;
    CHECK(ParseLayout(slab.data() + meta[2 * i], meta[2 * i + 1], &l));
    CHECK(
        TransportChecksumValid(slab.data() + meta[2 * i], meta[2 * i + 1], l));
  }
  CHECK_EQ(slab[meta[2] - kVnetHdrLen], 0);  // and in the header in the slab
  CHECK_EQ(gso[8 * 2 + 1], kGsoTcp4);
  close(fds[0]);
  close(fds[1]);
}

TEST_MAIN()
