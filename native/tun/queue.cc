#include "tun/queue.h"

#include <errno.h>
#include <unistd.h>

namespace vpn::tun {

Queue::Queue(int fd, uint8_t* base, const QueueLayout& layout,
             unsigned offloads, bool super_packets, uint64_t* counters)
    : fd_(fd),
      base_(base),
      layout_(layout),
      offloads_(offloads),
      super_packets_(super_packets && offloads != 0),
      counters_(counters) {}

Queue::~Queue() { Close(); }

void Queue::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  last_count_ = 0;
}

ReceiveResult Queue::Receive(QueueSink* sink) {
  ReceiveResult out;
  if (closed()) return out;
  ReadResult r = ReadBatch(fd_, base_, layout_.slab, meta(), layout_.batch,
                           vnet() ? gso() : nullptr, layout_.room);
  out.more = r.full;
  if (r.count) {
    counters_[kRxPackets] += r.count;
    counters_[kRxBytes] += r.bytes;
    counters_[kRxBatches] += 1;
    if (r.full) counters_[kRxFullBatches] += 1;
    counters_[kRxSuperPackets] += r.supers;
    counters_[kRxSegments] += r.segments;
    last_count_ = r.count;
    bool go_on = true;
    if (r.gso == 0 || super_packets_) {
      go_on =
          sink->Deliver(r.count, MetaKind::kRead, super_packets_ ? r.gso : 0);
    } else {
      // Wire-size batches wanted: split before the sink sees anything, one
      // delivery per round of the split area.
      uint32_t start = 0;
      while (go_on && start < r.count) {
        SplitResult s = Split(start);
        if (s.made) go_on = sink->Deliver(s.made, MetaKind::kSplit, 0);
        if (s.consumed == 0) break;
        start += s.consumed;
      }
    }
    if (!go_on || closed()) {
      out.stopped = true;
      return out;
    }
    last_count_ = 0;
  }
  if (r.error) {
    counters_[kReadErrors] += 1;
    out.error = r.error;
    out.more = false;
  }
  return out;
}

SplitResult Queue::Split(uint32_t start) {
  SplitResult out;
  if (!vnet() || closed()) return out;
  const int32_t* in_meta = meta();
  const uint16_t* in_gso = gso();
  int32_t* out_meta = split_meta();
  uint8_t* area = base_ + layout_.slab;
  uint32_t made = 0, i = start;
  size_t used = 0;
  for (; i < last_count_ && made < layout_.split_slots; ++i) {
    const uint16_t* g = in_gso + 8 * i;
    // meta lives in memory JS can write: an entry that no longer describes
    // a packet inside the slab is skipped, never followed.
    int32_t off = in_meta[2 * i], mlen = in_meta[2 * i + 1];
    if (off < 0 || mlen <= 0 || static_cast<size_t>(mlen) > kMaxPacket ||
        static_cast<size_t>(off) + static_cast<size_t>(mlen) > layout_.slab) {
      counters_[kGsoErrors] += 1;
      continue;
    }
    VnetHdr h;
    h.flags = static_cast<uint8_t>(g[0]);
    h.gso_type = static_cast<uint8_t>(g[1]);
    h.hdr_len = g[2];
    h.gso_size = g[3];
    h.csum_start = g[4];
    h.csum_offset = g[5];
    if (h.gso_type == kGsoNone) {
      // A wire-size packet stays where it is. ReadBatch finished any
      // checksum left to us; one still marked had offsets it could not use.
      if (h.flags & kNeedsCsum) {
        counters_[kGsoErrors] += 1;
        continue;
      }
      out_meta[2 * made] = off;
      out_meta[2 * made + 1] = mlen;
      ++made;
      continue;
    }
    SegmentResult r =
        Segment(base_ + off, static_cast<size_t>(mlen), h, area + used,
                layout_.split - used, out_meta + 2 * made,
                layout_.split_slots - made, layout_.slab + used, layout_.room);
    if (r.status == SegmentStatus::kNoRoom && made > 0) break;
    if (r.status != SegmentStatus::kOk) {
      // Malformed, or more segments than an empty split area holds.
      counters_[kGsoErrors] += 1;
      continue;
    }
    made += r.count;
    used += r.used;
  }
  out.consumed = i - start;
  out.made = made;
  return out;
}

PacketFault Queue::Check(const PacketRef* pkts, uint32_t n,
                         bool with_header) const {
  PacketFault f;
  for (uint32_t i = 0; i < n; ++i) {
    PacketRef ip = pkts[i];
    if (with_header) {
      if (const char* why = CheckVnetPacket(ip.data, ip.len)) {
        f.index = i;
        f.code = "ERR_BAD_VNET_HEADER";
        f.why = why;
        return f;
      }
      ip.data += kVnetHdrLen;
      ip.len -= kVnetHdrLen;
    }
    if (const char* why = CheckPacket(ip.data, ip.len, &f.code)) {
      f.index = i;
      f.why = why;
      f.range = ip.len > kMaxPacket;
      return f;
    }
  }
  f.code = nullptr;
  return f;
}

int Queue::WriteUnit(const PacketRef* pkts, uint32_t n, uint32_t k,
                     uint32_t* count) {
  if (!vnet()) {
    *count = 1;
    return WritePacket(fd_, pkts[k].data, pkts[k].len);
  }
  WritePlan plan;
  PlanWrite(pkts, n, k, offloads_, &plan);
  iov_.resize(1 + plan.count);
  iov_[0] = {plan.head, plan.head_len};
  for (uint32_t m = 0; m < plan.count; ++m) {
    const PacketRef& p = pkts[k + m];
    iov_[1 + m] = {const_cast<uint8_t*>(p.data) + plan.hdr_len,
                   p.len - plan.hdr_len};
  }
  *count = plan.count;
  int r = WritePacketV(fd_, iov_.data(), static_cast<int>(iov_.size()),
                       plan.head_len + plan.total - plan.hdr_len);
  if (r == 1 && plan.count > 1) counters_[kTxSuperPackets] += 1;
  return r;
}

WriteResult Queue::Write(const PacketRef* pkts, uint32_t n, bool with_header) {
  WriteResult out;
  if (closed()) {
    out.error = EBADF;
    return out;
  }
  uint64_t bytes = 0, wire = 0;  // wire: the wire-size packets written
  uint32_t i = 0;
  int r = 1;
  while (i < n) {
    uint32_t taken = 1;
    r = with_header ? WritePacket(fd_, pkts[i].data, pkts[i].len)
                    : WriteUnit(pkts, n, i, &taken);
    if (r != 1) break;
    for (uint32_t m = 0; m < taken; ++m) bytes += pkts[i + m].len;
    if (with_header) {
      const PacketRef& p = pkts[i];
      uint32_t segs = SegmentCount(p.data + kVnetHdrLen, p.len - kVnetHdrLen,
                                   ReadVnetHdr(p.data));
      wire += segs;
      if (segs > 1) counters_[kTxSuperPackets] += 1;
    } else {
      wire += taken;
    }
    i += taken;
  }
  counters_[kTxPackets] += wire;
  counters_[kTxBytes] += bytes;
  if (i > 0) counters_[kTxBatches] += 1;
  out.taken = i;
  if (r == 0) {
    counters_[kTxEagain] += 1;
    out.error = EAGAIN;
  } else if (r < 0) {
    counters_[kWriteErrors] += 1;
    out.error = -r;
  }
  return out;
}

int Queue::WriteOne(const PacketRef& p) {
  if (closed()) return -EBADF;
  int r;
  if (vnet()) {
    uint8_t zero[kVnetHdrLen] = {};
    iovec iov[2] = {{zero, sizeof zero}, {const_cast<uint8_t*>(p.data), p.len}};
    r = WritePacketV(fd_, iov, 2, sizeof zero + p.len);
  } else {
    r = WritePacket(fd_, p.data, p.len);
  }
  if (r == 1) {
    counters_[kTxPackets] += 1;
    counters_[kTxBytes] += p.len;
    counters_[kTxBatches] += 1;
  } else if (r == 0) {
    counters_[kTxEagain] += 1;
  } else {
    counters_[kWriteErrors] += 1;
  }
  return r;
}

}  // namespace vpn::tun
