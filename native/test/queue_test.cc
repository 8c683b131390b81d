// C++ unit tests for native/tun/queue: the read round (one delivery of a
// plain batch; super-packets split before the sink sees them, in rounds
// when the split area fills; handed out whole when asked), the write round
// (checks before any write, coalescing, EAGAIN, counters), and a closed
// queue. A SOCK_SEQPACKET socketpair stands in for the TUN fd: one message
// per packet, a virtio header in front where the queue has offloads.
#include "tun/queue.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "check.h"
#include "packets.h"

using namespace vpn::tun;
using namespace testpkt;

namespace {

struct Pair {
  int a = -1, b = -1;  // a: the kernel's end; b: handed to the queue
  Pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, fds) == 0) {
      a = fds[0];
      b = fds[1];
    }
  }
  ~Pair() {
    if (a >= 0) close(a);
  }
};

// A queue with its memory, as the binding sets one up.
struct Fixture {
  Pair pair;
  QueueLayout layout;
  std::vector<uint64_t> block;  // 8-byte aligned
  uint64_t counters[kCounterCount] = {};
  Queue* q = nullptr;

  Fixture(uint32_t batch, size_t slab, unsigned offloads, bool super,
          size_t split = 1 << 20, uint32_t slots = 256, Room room = {}) {
    layout.room = room;
    // As the binding does: areas of whole 8-byte words, so that the metas
    // that follow them are aligned.
    layout.batch = batch;
    layout.slab = (slab + 7) & ~size_t{7};
    if (offloads) {
      layout.split = (split + 7) & ~size_t{7};
      layout.split_slots = slots;
    }
    block.resize(layout.total() / 8 + 1);
    q = new Queue(pair.b, base(), layout, offloads, super, counters);
  }
  ~Fixture() { delete q; }
  uint8_t* base() { return reinterpret_cast<uint8_t*>(block.data()); }
  const int32_t* meta(MetaKind k) {
    return reinterpret_cast<const int32_t*>(
        base() +
        (k == MetaKind::kRead ? layout.meta_at() : layout.split_meta_at()));
  }
  Bytes Packet(MetaKind k, uint32_t i) {
    const int32_t* m = meta(k);
    return Bytes(base() + m[2 * i], base() + m[2 * i] + m[2 * i + 1]);
  }
};

// A sink that records what it is given (copies, as JS would read them).
struct Recorder : QueueSink {
  Fixture* f;
  std::vector<std::vector<Bytes>> batches;
  std::vector<MetaKind> kinds;
  std::vector<uint32_t> gsos;
  int stop_after = -1;  // return false after this many deliveries
  explicit Recorder(Fixture* fx) : f(fx) {}
  bool Deliver(uint32_t count, MetaKind kind, uint32_t gso) override {
    std::vector<Bytes> b;
    for (uint32_t i = 0; i < count; ++i) b.push_back(f->Packet(kind, i));
    batches.push_back(b);
    kinds.push_back(kind);
    gsos.push_back(gso);
    return stop_after < 0 || static_cast<int>(batches.size()) < stop_after;
  }
};

Bytes Plain(size_t len, uint8_t seed) {
  Bytes p(len);
  for (size_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(seed + i * 3);
  p[0] = 0x45;
  return p;
}

// What a TUN fd with IFF_VNET_HDR hands over for a run coalesced by the
// kernel: the header, then the super-packet (checksum left to us).
Bytes SuperRead(const std::vector<Bytes>& run) {
  std::vector<PacketRef> refs = Refs(run);
  WritePlan plan;
  PlanWrite(refs.data(), static_cast<uint32_t>(refs.size()), 0, kAll, &plan);
  Bytes out(plan.head, plan.head + kVnetHdrLen);
  Bytes body = Assemble(plan, run, 0);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes WithZeroHeader(const Bytes& p) {
  Bytes out(kVnetHdrLen, 0);
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

void Send(int fd, const Bytes& b) {
  CHECK_EQ(write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
}

}  // namespace

TEST(APlainBatchIsDeliveredOnceAsRead) {
  Fixture f(16, kMaxPacket * 2, 0, false);
  std::vector<Bytes> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(Plain(40 + 100 * i, static_cast<uint8_t>(i)));
    Send(f.pair.a, sent.back());
  }
  Recorder rec(&f);
  ReceiveResult r = f.q->Receive(&rec);
  CHECK_EQ(r.error, 0);
  CHECK(!r.more && !r.stopped);
  CHECK_EQ(rec.batches.size(), 1u);
  CHECK(rec.kinds[0] == MetaKind::kRead);
  CHECK(rec.batches[0] == sent);
  CHECK_EQ(f.counters[kRxPackets], 5u);
  CHECK_EQ(f.counters[kRxBatches], 1u);
  // Nothing waiting: no delivery at all.
  Recorder none(&f);
  f.q->Receive(&none);
  CHECK_EQ(none.batches.size(), 0u);
}

TEST(AFullBatchSaysMoreMayWait) {
  Fixture f(4, kMaxPacket * 2, 0, false);
  for (int i = 0; i < 6; ++i) Send(f.pair.a, Plain(60, 1));
  Recorder rec(&f);
  ReceiveResult r = f.q->Receive(&rec);
  CHECK(r.more);
  CHECK_EQ(rec.batches[0].size(), 4u);
  CHECK_EQ(f.counters[kRxFullBatches], 1u);
  r = f.q->Receive(&rec);
  CHECK(!r.more);
  CHECK_EQ(rec.batches[1].size(), 2u);
}

TEST(SuperPacketsAreSplitBeforeTheSinkSeesThem) {
  for (bool v6 : {false, true}) {
    for (bool tcp : {true, false}) {
      Fixture f(64, 1 << 20, kAll, false);
      Flow flow{v6, tcp, tcp ? 12u : 0u};
      std::vector<Bytes> run = MakeRun(flow, 7, 1200, 333);
      Bytes alone = MakeSegment(flow, 99, 100, 5);
      Send(f.pair.a, WithZeroHeader(alone));
      Send(f.pair.a, SuperRead(run));
      Recorder rec(&f);
      ReceiveResult r = f.q->Receive(&rec);
      CHECK_EQ(r.error, 0);
      CHECK_EQ(rec.batches.size(), 1u);
      CHECK(rec.kinds[0] == MetaKind::kSplit);
      CHECK_EQ(rec.gsos[0], 0u);
      std::vector<Bytes> want{alone};
      want.insert(want.end(), run.begin(), run.end());
      CHECK(rec.batches[0] == want);  // byte for byte, checksums included
      CHECK_EQ(f.counters[kRxPackets], 2u);
      CHECK_EQ(f.counters[kRxSuperPackets], 1u);
      CHECK_EQ(f.counters[kRxSegments], 7u);
    }
  }
}

TEST(AFullSplitAreaMeansMoreRoundsNotLostPackets) {
  // Room for one super-packet of segments per round: three of them take
  // three deliveries, in order.
  Fixture f(64, 1 << 20, kAll, false, kMaxPacket + 8, 64);
  Flow flow;
  std::vector<Bytes> want;
  for (uint32_t k = 0; k < 3; ++k) {
    std::vector<Bytes> run = MakeRun(flow, 40, 1400, 100 + k);
    Send(f.pair.a, SuperRead(run));
    want.insert(want.end(), run.begin(), run.end());
  }
  Recorder rec(&f);
  f.q->Receive(&rec);
  CHECK_EQ(rec.batches.size(), 3u);
  std::vector<Bytes> got;
  for (const auto& b : rec.batches) got.insert(got.end(), b.begin(), b.end());
  CHECK(got == want);
  CHECK_EQ(f.counters[kGsoErrors], 0u);
}

TEST(ASinkThatStopsEndsTheRound) {
  Fixture f(64, 1 << 20, kAll, false, kMaxPacket + 8, 64);
  Flow flow;
  for (uint32_t k = 0; k < 3; ++k)
    Send(f.pair.a, SuperRead(MakeRun(flow, 40, 1400, 1)));
  Recorder rec(&f);
  rec.stop_after = 1;
  ReceiveResult r = f.q->Receive(&rec);
  CHECK(r.stopped);
  CHECK_EQ(rec.batches.size(), 1u);
}

TEST(SuperPacketsHandedOutWholeSplitOnRequest) {
  Fixture f(64, 1 << 20, kAll, true);
  Flow flow;
  std::vector<Bytes> run = MakeRun(flow, 5, 1000, 10);
  Bytes read = SuperRead(run);
  Send(f.pair.a, read);
  struct Asks : Recorder {
    using Recorder::Recorder;
    std::vector<Bytes> split;
    bool Deliver(uint32_t count, MetaKind kind, uint32_t gso) override {
      Recorder::Deliver(count, kind, gso);
      SplitResult s = f->q->Split(0);
      CHECK_EQ(s.consumed, count);
      for (uint32_t i = 0; i < s.made; ++i)
        split.push_back(f->Packet(MetaKind::kSplit, i));
      return true;
    }
  } rec(&f);
  f.q->Receive(&rec);
  CHECK_EQ(rec.batches.size(), 1u);
  CHECK(rec.kinds[0] == MetaKind::kRead);
  CHECK_EQ(rec.gsos[0], 1u);
  CHECK(rec.batches[0][0] == Bytes(read.begin() + kVnetHdrLen, read.end()));
  CHECK(rec.split == run);
  // Outside a delivery there is nothing to split.
  CHECK_EQ(f.q->Split(0).made, 0u);
}

TEST(AMetaEntryMovedByJsIsSkippedNotFollowed) {
  Fixture f(64, 1 << 20, kAll, true);
  Flow flow;
  Send(f.pair.a, SuperRead(MakeRun(flow, 5, 1000, 10)));
  struct Corrupts : Recorder {
    using Recorder::Recorder;
    uint32_t made = 99;
    bool Deliver(uint32_t, MetaKind, uint32_t) override {
      auto* m = reinterpret_cast<int32_t*>(f->base() + f->layout.meta_at());
      m[0] = static_cast<int32_t>(f->layout.slab - 10);  // past the slab
      made = f->q->Split(0).made;
      return true;
    }
  } rec(&f);
  f.q->Receive(&rec);
  CHECK_EQ(rec.made, 0u);
  CHECK_EQ(f.counters[kGsoErrors], 1u);
}

// Every packet of a delivery has the room asked for around it, inside its
// area, and no packet's room overlaps another packet.
void CheckRoom(Fixture& f, MetaKind kind, uint32_t count, Room room) {
  const int32_t* m = f.meta(kind);
  std::vector<std::pair<size_t, size_t>> frames;
  for (uint32_t i = 0; i < count; ++i) {
    size_t off = static_cast<size_t>(m[2 * i]), len = m[2 * i + 1];
    // A split batch holds segments in the split area and the packets that
    // needed no split where they were read, in the slab.
    bool in_slab = off < f.layout.slab;
    size_t lo = in_slab ? 0 : f.layout.slab;
    size_t hi = in_slab ? f.layout.slab : f.layout.slab + f.layout.split;
    CHECK_EQ(off % 8, 0u);
    CHECK(off >= lo + room.head);
    CHECK(off + len + room.tail <= hi);
    frames.push_back({off - room.head, off + len + room.tail});
  }
  std::sort(frames.begin(), frames.end());
  for (size_t i = 1; i < frames.size(); ++i)
    CHECK(frames[i].first >= frames[i - 1].second);
}

TEST(PacketsKeepTheirRoomReadOrSplit) {
  for (unsigned offloads : {0u, kAll}) {
    Room room{24, 16};
    Fixture f(64, 1 << 20, offloads, false, 1 << 20, 256, room);
    Flow flow;
    std::vector<Bytes> want;
    for (uint32_t k = 0; k < 5; ++k) {
      Bytes p = MakeSegment(flow, k, 100 + 37 * k, 1 + k);
      Send(f.pair.a, offloads ? WithZeroHeader(p) : p);
      want.push_back(p);
    }
    if (offloads) {
      std::vector<Bytes> run = MakeRun(flow, 9, 1000, 55);
      Send(f.pair.a, SuperRead(run));
      want.insert(want.end(), run.begin(), run.end());
    }
    struct Checks : Recorder {
      using Recorder::Recorder;
      Room room;
      bool Deliver(uint32_t count, MetaKind kind, uint32_t gso) override {
        Recorder::Deliver(count, kind, gso);
        CheckRoom(*f, kind, count, room);
        return true;
      }
    } rec(&f);
    rec.room = room;
    f.q->Receive(&rec);
    CHECK_EQ(rec.batches.size(), 1u);
    CHECK(rec.batches[0] == want);
  }
}

TEST(ABadPacketIsFoundBeforeAnythingIsWritten) {
  Fixture f(16, kMaxPacket * 2, 0, false);
  Bytes good = Plain(60, 1), bad = Plain(60, 2), empty;
  bad[0] = 0x70;
  std::vector<PacketRef> pkts = {{good.data(), good.size()},
                                 {bad.data(), bad.size()}};
  PacketFault fault = f.q->Check(pkts.data(), 2, false);
  CHECK_EQ(fault.index, 1);
  CHECK(std::strcmp(fault.code, "ERR_NOT_IP_PACKET") == 0);
  pkts[1] = {empty.data(), 0};
  fault = f.q->Check(pkts.data(), 2, false);
  CHECK(std::strcmp(fault.code, "ERR_EMPTY_PACKET") == 0);
  Bytes huge(kMaxPacket + 1, 0x45);
  pkts[1] = {huge.data(), huge.size()};
  fault = f.q->Check(pkts.data(), 2, false);
  CHECK(fault.range);
  CHECK(f.q->Check(pkts.data(), 1, false).code == nullptr);
  // A forwarded super-packet's header must describe it.
  Bytes junk = WithZeroHeader(good);
  junk[1] = kGsoTcp4;  // no size, no checksum offsets
  pkts[0] = {junk.data(), junk.size()};
  fault = f.q->Check(pkts.data(), 1, true);
  CHECK(std::strcmp(fault.code, "ERR_BAD_VNET_HEADER") == 0);
}

TEST(ARunOfOneFlowIsWrittenAsOneSuperPacket) {
  Fixture f(16, kMaxPacket * 2, kAll, false);
  Flow flow;
  std::vector<Bytes> run = MakeRun(flow, 10, 1300, 77);
  Bytes other = Plain(80, 3);
  std::vector<Bytes> all = run;
  all.push_back(other);
  std::vector<PacketRef> refs = Refs(all);
  WriteResult w = f.q->Write(refs.data(), 11, false);
  CHECK_EQ(w.error, 0);
  CHECK_EQ(w.taken, 11u);
  CHECK_EQ(f.counters[kTxPackets], 11u);
  CHECK_EQ(f.counters[kTxSuperPackets], 1u);
  // The kernel's end gets two writes: the super-packet, then the other.
  Bytes buf(1 << 17);
  ssize_t n = read(f.pair.a, buf.data(), buf.size());
  CHECK(n > 0);
  VnetHdr h = ReadVnetHdr(buf.data());
  CHECK_EQ(h.gso_type, kGsoTcp4);
  CHECK_EQ(h.gso_size, 1300u);
  CHECK_EQ(SegmentCount(buf.data() + kVnetHdrLen, n - kVnetHdrLen, h), 10u);
  n = read(f.pair.a, buf.data(), buf.size());
  CHECK_EQ(n, static_cast<ssize_t>(kVnetHdrLen + other.size()));
  CHECK(std::memcmp(buf.data() + kVnetHdrLen, other.data(), other.size()) == 0);
}

TEST(AFullQueueStopsAtEagainAndSaysWhere) {
  Fixture f(16, kMaxPacket * 2, 0, false);
  int small = 4096;
  setsockopt(f.pair.b, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  Bytes p = Plain(1400, 9);
  std::vector<PacketRef> refs(2000, PacketRef{p.data(), p.size()});
  WriteResult w = f.q->Write(refs.data(), 2000, false);
  CHECK_EQ(w.error, EAGAIN);
  CHECK(w.taken > 0 && w.taken < 2000);
  CHECK_EQ(f.counters[kTxEagain], 1u);
  CHECK_EQ(f.counters[kTxPackets], w.taken);
  // Drained, the rest goes from where it stopped.
  Bytes buf(2048);
  while (read(f.pair.a, buf.data(), buf.size()) > 0) {
  }
  WriteResult rest = f.q->Write(refs.data() + w.taken, 1, false);
  CHECK_EQ(rest.error, 0);
  CHECK_EQ(rest.taken, 1u);
}

TEST(AClosedQueueReadsNothingAndRefusesWrites) {
  Fixture f(16, kMaxPacket * 2, 0, false);
  Send(f.pair.a, Plain(60, 1));
  f.q->Close();
  CHECK(f.q->closed());
  Recorder rec(&f);
  f.q->Receive(&rec);
  CHECK_EQ(rec.batches.size(), 0u);
  Bytes p = Plain(60, 2);
  PacketRef ref{p.data(), p.size()};
  CHECK_EQ(f.q->Write(&ref, 1, false).error, EBADF);
  CHECK_EQ(f.q->WriteOne(ref), -EBADF);
}

TEST(APeerThatWentAwayIsAReadError) {
  Fixture f(16, kMaxPacket * 2, 0, false);
  close(f.pair.a);
  f.pair.a = -1;
  Recorder rec(&f);
  ReceiveResult r = f.q->Receive(&rec);
  CHECK_EQ(r.error, EPIPE);
  CHECK_EQ(f.counters[kReadErrors], 1u);
}

TEST_MAIN()
