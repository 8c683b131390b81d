// libFuzzer target for the offload code (native/tun/offload.cc), which parses
// what the kernel reads out (virtio-net header + super-packet), what a peer
// forwards (sendPackets withHeader) and what JS sends (coalescing):
//   - CheckVnetPacket on the input as header + packet; Segment on it into a
//     bounded area, whose segments must lie inside it and each parse as a
//     whole IP packet with a valid L4 checksum;
//   - PlanWrite over the input read as a list of packets (below): a plan
//     never spans more packets than given, and a coalesced run splits back
//     into exactly the packets it joined: the same bytes but for what
//     segmentation rewrites (the IPv4 id and header checksum, and the L4
//     checksum, which must be valid).
// The list: [mode][offloads][count][count x big-endian u16 length][packets].
// Mode bit 0 sets each packet's length fields and checksums first (bit 1:
// all but the UDP length), so that a mutated header still reaches the
// coalescing checks behind them.
// scripts/fuzz-seeds.js writes runs of same-flow packets in this form.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

// Compiled into the target for coverage (see classify_fuzz.cc).
#include "tun/offload.cc"  // NOLINT(build/include)

using namespace vpn::tun;

namespace {

void PutBe16(uint8_t* p, size_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Sets an IPv4 or IPv6 packet's length fields to its size (the UDP length
// too unless keep_udp_len), and its IPv4 header and TCP/UDP checksums to the
// right values, where it has them.
void FixUp(std::vector<uint8_t>& b, bool keep_udp_len) {
  if (b.size() < 20 || b.size() > 0xffff) return;
  uint8_t* p = b.data();
  if (p[0] >> 4 == 4) {
    PutBe16(p + 2, b.size());
  } else if (p[0] >> 4 == 6 && b.size() >= 40) {
    PutBe16(p + 4, b.size() - 40);
  }
  Layout l;
  if (!ParseLayout(p, b.size(), &l)) return;
  if (!l.v6) {
    p[10] = p[11] = 0;
    StoreSum16(p + 10, static_cast<uint16_t>(~Fold(Sum(p, l.ip_len))));
  }
  uint8_t* l4 = p + l.ip_len;
  size_t l4_bytes = b.size() - l.ip_len;
  size_t field = l.proto == 6 ? 16 : 6;
  if (l.proto == 17 && !keep_udp_len) PutBe16(l4 + 4, l4_bytes);
  l4[field] = l4[field + 1] = 0;
  uint16_t c = static_cast<uint16_t>(
      ~Fold(Sum(l4, l4_bytes, PseudoSum(p, l, l4_bytes))));
  if (c == 0 && l.proto == 17) c = 0xffff;
  StoreSum16(l4 + field, c);
}

// A segment split from a super-packet against the packet it was joined
// from: equal but for the IPv4 id and header checksum and the L4 checksum.
bool SameBytesButRewritten(const uint8_t* seg, const uint8_t* orig, size_t len,
                           const Layout& l) {
  size_t field = l.ip_len + (l.proto == 6 ? 16 : 6);
  for (size_t i = 0; i < len; ++i) {
    if (!l.v6 && (i == 4 || i == 5 || i == 10 || i == 11)) continue;
    if (i == field || i == field + 1) continue;
    if (seg[i] != orig[i]) return false;
  }
  if (!l.v6) {
    // The header checksum segmentation wrote is right.
    if (Fold(Sum(seg, l.ip_len)) != 0xffff) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 1. The input as a packet with its own header.
  if (size >= kVnetHdrLen) {
    std::vector<uint8_t> pkt(data + kVnetHdrLen, data + size);
    VnetHdr h = ReadVnetHdr(data);
    CheckVnetPacket(data, size);
    std::vector<uint8_t> out(16384);
    std::vector<int32_t> meta(2 * 64);
    SegmentResult r = Segment(pkt.data(), pkt.size(), h, out.data(), out.size(),
                              meta.data(), 64, 0);
    if (r.status == SegmentStatus::kOk) {
      if (r.count > 64 || r.used > out.size()) __builtin_trap();
      // What the counters report is what Segment wrote.
      if ((h.gso_type & ~kGsoEcn) != kGsoNone &&
          SegmentCount(pkt.data(), pkt.size(), h) != r.count)
        __builtin_trap();
      for (uint32_t i = 0; i < r.count; ++i) {
        size_t off = static_cast<size_t>(meta[2 * i]);
        size_t len = static_cast<size_t>(meta[2 * i + 1]);
        if (off + len > r.used) __builtin_trap();
        Layout l;
        if ((h.gso_type & ~kGsoEcn) != kGsoNone &&
            (!ParseLayout(out.data() + off, len, &l) ||
             !TransportChecksumValid(out.data() + off, len, l)))
          __builtin_trap();
      }
    }
  }
  // 2. The input as a list of packets to write.
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const unsigned offloads = data[1] & 0x67u;
  const uint32_t want = 1 + data[2] % 80u;
  size_t pos = 3;
  std::vector<size_t> lens;
  for (uint32_t k = 0; k < want && pos + 2 <= size; ++k, pos += 2)
    lens.push_back(static_cast<size_t>(data[pos] << 8 | data[pos + 1]));
  std::vector<std::vector<uint8_t>> bytes;
  for (size_t len : lens) {
    if (pos >= size) break;
    len = std::min(len, size - pos);
    bytes.emplace_back(data + pos, data + pos + len);
    pos += len;
    if (mode & 1) FixUp(bytes.back(), mode & 2);
  }
  std::vector<PacketRef> pkts;
  for (const auto& b : bytes) pkts.push_back({b.data(), b.size()});
  uint32_t n = static_cast<uint32_t>(pkts.size());
  // As the sender walks a batch: each plan starts where the last one ended.
  for (uint32_t first = 0, next = 0; first < n; first = next) {
    WritePlan plan;
    PlanWrite(pkts.data(), n, first, offloads, &plan);
    if (plan.count < 1 || first + plan.count > n || plan.head_len > kMaxHead ||
        plan.count > kMaxCoalesce)
      __builtin_trap();
    next = first + plan.count;
    if (plan.count == 1) {
      // Alone: a zero header and the packet as it is.
      static const uint8_t kZero[kVnetHdrLen] = {};
      if (plan.head_len != kVnetHdrLen ||
          memcmp(plan.head, kZero, kVnetHdrLen) != 0 ||
          plan.total != pkts[first].len)
        __builtin_trap();
      continue;
    }
    std::vector<uint8_t> super(plan.head + kVnetHdrLen,
                               plan.head + plan.head_len);
    for (uint32_t m = 0; m < plan.count; ++m)
      super.insert(super.end(), pkts[first + m].data + plan.hdr_len,
                   pkts[first + m].data + pkts[first + m].len);
    if (super.size() != plan.total || super.size() > 0xffff) __builtin_trap();
    // What the kernel checks before it takes the super-packet.
    std::vector<uint8_t> framed(plan.head, plan.head + kVnetHdrLen);
    framed.insert(framed.end(), super.begin(), super.end());
    if (CheckVnetPacket(framed.data(), framed.size()) != nullptr)
      __builtin_trap();
    std::vector<uint8_t> out(super.size() + 64 * 128);
    std::vector<int32_t> meta(2 * 64);
    SegmentResult r =
        Segment(super.data(), super.size(), ReadVnetHdr(plan.head), out.data(),
                out.size(), meta.data(), 64, 0);
    if (r.status != SegmentStatus::kOk || r.count != plan.count)
      __builtin_trap();
    for (uint32_t m = 0; m < r.count; ++m) {
      const PacketRef& p = pkts[first + m];
      const uint8_t* seg = out.data() + meta[2 * m];
      size_t len = static_cast<size_t>(meta[2 * m + 1]);
      if (len != p.len) __builtin_trap();
      Layout l;
      if (!ParseLayout(seg, len, &l) || !TransportChecksumValid(seg, len, l))
        __builtin_trap();
      if (!SameBytesButRewritten(seg, p.data, len, l)) __builtin_trap();
    }
  }
  return 0;
}
