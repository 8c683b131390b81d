// One TUN queue's packet engine, without N-API: the receive memory and its
// layout, the read round (a batch read, then split into wire-size packets
// where the caller wants them), the write round (checks, coalescing plan,
// writev) and the counters. The binding (native/binding/tun_binding.cc) only
// converts arguments and wakes JS; the C++ tests drive this directly over a
// socketpair. Shaped as wireguard-go's tun/tun_linux.go: the device's read
// and write orchestrate, the pure helpers of offload.h do the packet work.
//
// Receive: Receive() reads one batch (ReadBatch: until EAGAIN or the batch
// is full) into the slab and hands it to a sink in one call. With offloads
// the kernel may hand over super-packets; unless the owner asked for them
// whole, they are split here, into the split area, before the sink sees
// anything: the sink gets one call per split round (one, unless the split
// area fills) with wire-size packets only. No JS runs between read and split.
//
// Send: Check() refuses a batch with any bad packet before anything is
// written; Write() writes in order straight from the caller's memory, runs
// of one flow coalesced into super-packets when offloads are on, and stops
// at EAGAIN (the caller waits for POLLOUT and goes on from where it stopped).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tun/offload.h"
#include "tun/tun.h"

namespace vpn::tun {

// The counters, in the order lib/native.ts's COUNTER_NAMES lists them.
enum Counter {
  kRxPackets,
  kRxBytes,
  kRxBatches,
  kRxFullBatches,
  kTxPackets,
  kTxBytes,
  kTxBatches,
  kTxEagain,
  kReadErrors,
  kWriteErrors,
  kRxSuperPackets,  // super-packets read (vnet: GSO type set)
  kRxSegments,      // wire-size packets they carry
  kTxSuperPackets,  // super-packets written (coalesced runs, or forwarded)
  kGsoErrors,       // super-packets dropped as malformed
  kTxInvalid,       // packets of a batch written from the network that
                    // were not IP packets, left out (writeFrom)
  kCounterCount
};

// A queue's receive memory, one block (the binding's ArrayBuffer, which JS
// reads packets from), in this order: the slab reads land in, the split
// area, meta (2 int32 a packet: offset, length), gso (8 uint16 a packet,
// offloads only), split meta (2 int32 a segment). Offsets in both metas
// are from the start of the block. The slab and the split area are whole
// 8-byte words, so that everything after them is aligned.
struct QueueLayout {
  size_t slab = 0;
  size_t split = 0;          // 0 without offloads
  uint32_t batch = 0;        // most packets one read round takes
  uint32_t split_slots = 0;  // most segments one split round makes
  Room room;                 // free bytes around each packet (see tun.h)

  size_t meta_at() const { return slab + split; }
  size_t gso_at() const { return meta_at() + 8 * size_t{batch}; }
  size_t split_meta_at() const { return gso_at() + 16 * size_t{batch}; }
  size_t total() const { return split_meta_at() + 8 * size_t{split_slots}; }
};

// Which meta a delivered batch is described by.
enum class MetaKind : uint8_t { kRead = 0, kSplit = 1 };

// Where Receive() hands its batches.
class QueueSink {
 public:
  virtual ~QueueSink() = default;
  // count packets, described by the read meta or the split meta; gso: how
  // many of them are super-packets or still need a checksum (only with
  // super-packets handed out whole; 0 otherwise). False stops the round
  // (the queue was closed, or its memory taken away, during the call).
  virtual bool Deliver(uint32_t count, MetaKind kind, uint32_t gso) = 0;
};

struct ReceiveResult {
  bool more = false;     // the read filled the batch: more may be waiting
  bool stopped = false;  // the sink stopped the round: touch nothing more
  int error = 0;         // an errno from reading (EBADFD: interface deleted)
};

// Split(start): packets consumed from the read batch, segments made.
struct SplitResult {
  uint32_t consumed = 0;
  uint32_t made = 0;
};

// Why a packet of a batch is refused (Check).
struct PacketFault {
  int64_t index = -1;  // -1: none
  const char* code = nullptr;
  const char* why = nullptr;
  bool range = false;  // a length out of range (a RangeError in JS)
};

// What a write round did: packets taken (written, or forwarded as written),
// and 0, EAGAIN (stopped; go on from `taken` when writable) or an errno
// (the packet at `taken` failed).
struct WriteResult {
  uint32_t taken = 0;
  int error = 0;
};

class Queue {
 public:
  // fd: a non-blocking packet fd, owned from now on (closed by Close()).
  // base: layout.total() bytes, 8-byte aligned, valid until Close().
  // offloads: the TUN_F_* flags in force (nonzero: the fd has
  // IFF_VNET_HDR). super_packets: Receive() hands super-packets whole.
  // counters: kCounterCount of them, written while the queue is open.
  Queue(int fd, uint8_t* base, const QueueLayout& layout, unsigned offloads,
        bool super_packets, uint64_t* counters);
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Closes the fd; the queue does nothing after. Idempotent.
  void Close();
  bool closed() const { return fd_ < 0; }
  int fd() const { return fd_; }
  bool vnet() const { return offloads_ != 0; }
  unsigned offloads() const { return offloads_; }
  const QueueLayout& layout() const { return layout_; }

  // Reads one batch and delivers it (see the top of this file).
  ReceiveResult Receive(QueueSink* sink);

  // With super-packets handed out whole, during a delivery of the read
  // meta: splits packets [start, count) of it into the split area (what
  // PacketBatch.split asks for). Malformed super-packets are dropped and
  // counted (kGsoErrors); a packet whose meta entry no longer lies in the
  // slab (JS can write meta) is skipped, never followed.
  SplitResult Split(uint32_t start);

  // Checks a batch before anything is written. with_header: each packet
  // starts with its own virtio_net_hdr (forwarded super-packets).
  PacketFault Check(const PacketRef* pkts, uint32_t n, bool with_header) const;

  // Whether one packet would pass Check (for batches that come from the
  // network, whose bad packets are left out and counted, not thrown).
  bool Valid(const PacketRef& p) const {
    const char* code = nullptr;
    return CheckPacket(p.data, p.len, &code) == nullptr;
  }

  // Writes a checked batch in order. The caller's memory must stay as it
  // was checked until this returns.
  WriteResult Write(const PacketRef* pkts, uint32_t n, bool with_header);

  // Writes one checked packet: 1 written, 0 EAGAIN, -errno.
  int WriteOne(const PacketRef& p);

  // Counts a failure seen outside Receive and Write (a poll error).
  void Count(Counter c) {
    if (!closed()) counters_[c] += 1;
  }

 private:
  // Writes one packet (plan count 1) or a coalesced run from pkts[k..];
  // returns as WritePacket, *count the packets it took.
  int WriteUnit(const PacketRef* pkts, uint32_t n, uint32_t k, uint32_t* count);
  int32_t* meta() const {
    return reinterpret_cast<int32_t*>(base_ + layout_.meta_at());
  }
  uint16_t* gso() const {
    return reinterpret_cast<uint16_t*>(base_ + layout_.gso_at());
  }
  int32_t* split_meta() const {
    return reinterpret_cast<int32_t*>(base_ + layout_.split_meta_at());
  }

  int fd_;
  uint8_t* base_;
  QueueLayout layout_;
  unsigned offloads_;
  bool super_packets_;
  uint64_t* counters_;
  uint32_t last_count_ = 0;  // packets of the batch being delivered
  std::vector<iovec> iov_;
};

}  // namespace vpn::tun
