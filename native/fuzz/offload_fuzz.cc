// libFuzzer target for the offload code (native/tun/offload.cc), which parses
// what the kernel reads out (virtio-net header + super-packet), what a peer
// forwards (sendPackets withHeader) and what JS sends (coalescing):
//   - CheckVnetPacket on the input as header + packet; Segment on it into a
//     bounded area, whose segments must lie inside it and each parse as a
//     whole IP packet with a valid L4 checksum;
//   - PlanWrite over the input cut into packets: a plan never spans more
//     packets than given, and a coalesced run splits back into exactly the
//     packets it joined.
#include <cstdint>
#include <cstring>
#include <vector>

// Compiled into the target for coverage (see classify_fuzz.cc).
#include "tun/offload.cc"  // NOLINT(build/include)

using namespace vpn::tun;

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
  // 2. The input cut into packets at lengths from its first bytes.
  if (size < 4) return 0;
  std::vector<PacketRef> pkts;
  size_t pos = 4;
  for (int k = 0; k < 4 && pos < size; ++k) {
    size_t len = 20 + data[k] * 7 % 1500;
    if (pos + len > size) len = size - pos;
    pkts.push_back({data + pos, len});
    pos += len;
  }
  uint32_t n = static_cast<uint32_t>(pkts.size());
  for (uint32_t first = 0; first < n; ++first) {
    WritePlan plan;
    PlanWrite(pkts.data(), n, first, 0x67, &plan);
    if (plan.count < 1 || first + plan.count > n || plan.head_len > kMaxHead)
      __builtin_trap();
    if (plan.count > 1) {
      std::vector<uint8_t> super(plan.head + kVnetHdrLen,
                                 plan.head + plan.head_len);
      for (uint32_t m = 0; m < plan.count; ++m)
        super.insert(super.end(), pkts[first + m].data + plan.hdr_len,
                     pkts[first + m].data + pkts[first + m].len);
      std::vector<uint8_t> out(super.size() + 64 * 128);
      std::vector<int32_t> meta(2 * 64);
      SegmentResult r =
          Segment(super.data(), super.size(), ReadVnetHdr(plan.head),
                  out.data(), out.size(), meta.data(), 64, 0);
      if (r.status != SegmentStatus::kOk || r.count != plan.count)
        __builtin_trap();
      for (uint32_t m = 0; m < r.count; ++m) {
        const PacketRef& p = pkts[first + m];
        if (static_cast<size_t>(meta[2 * m + 1]) != p.len) __builtin_trap();
        // Headers may differ only where segmentation rewrites them (IPv4 id
        // and checksum); payloads must match.
        if (memcmp(out.data() + meta[2 * m] + plan.hdr_len,
                   p.data + plan.hdr_len, p.len - plan.hdr_len) != 0)
          __builtin_trap();
      }
    }
  }
  return 0;
}
