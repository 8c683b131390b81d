// Segmentation offloads on a TUN fd opened with IFF_VNET_HDR: the
// virtio-net header, Internet checksums, splitting a TCP/UDP super-packet
// into wire-size segments (what the kernel's GSO would do), and planning the
// reverse, coalescing consecutive segments of one flow into a super-packet
// before a write (GRO in userspace). No N-API here: the binding
// (native/binding/tun_binding.cc), the C++ tests and the fuzzers share it.
//
// With IFF_VNET_HDR every read and write carries a 10-byte virtio_net_hdr
// before the packet. TUNSETOFFLOAD says what we accept from the kernel:
// TUN_F_CSUM (packets whose L4 checksum is left for us: NEEDS_CSUM),
// TUN_F_TSO4/6 (TCP super-packets up to 64 KiB), TUN_F_USO4/6 (UDP ones,
// Linux 6.2+). The same header on a write hands the kernel a super-packet
// that it segments, or delivers whole to a local socket.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tun/tun.h"

namespace vpn::tun {

constexpr size_t kVnetHdrLen = 10;  // struct virtio_net_hdr

// TUNSETOFFLOAD flags (linux/if_tun.h; USO is newer than Debian 12's headers).
constexpr unsigned kTunFCsum = 0x01;
constexpr unsigned kTunFTso4 = 0x02;
constexpr unsigned kTunFTso6 = 0x04;
constexpr unsigned kTunFUso4 = 0x20;
constexpr unsigned kTunFUso6 = 0x40;

// virtio_net_hdr flags and GSO types (linux/virtio_net.h).
constexpr uint8_t kNeedsCsum = 1;
constexpr uint8_t kGsoNone = 0;
constexpr uint8_t kGsoTcp4 = 1;
constexpr uint8_t kGsoUdp = 3;  // UFO (fragmentation), never enabled by us
constexpr uint8_t kGsoTcp6 = 4;
constexpr uint8_t kGsoUdpL4 = 5;
constexpr uint8_t kGsoEcn = 0x80;

struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};

// The header is in the host's byte order for a legacy (non-v1) virtio
// header on a little-endian host, which is what TUN uses by default.
VnetHdr ReadVnetHdr(const uint8_t* p);
void WriteVnetHdr(uint8_t* p, const VnetHdr& h);

// One's-complement sum of data, as 16-bit words in memory order, added to
// `sum`; not folded. Fold() reduces it to 16 bits. A checksum is
// ~Fold(...), stored with StoreSum16 (memory order, so no byte swap).
uint64_t Sum(const uint8_t* data, size_t len, uint64_t sum = 0);
uint16_t Fold(uint64_t sum);
void StoreSum16(uint8_t* p, uint16_t v);

// The transport layout of an IP packet, as far as offloads care.
struct Layout {
  bool v6 = false;
  uint8_t proto = 0;  // 6 (TCP), 17 (UDP), or another
  uint16_t ip_len = 0;
  uint16_t l4_len = 0;  // TCP header with options, or 8 for UDP; 0 otherwise
};
// Parses an IPv4 header (with options) or a plain IPv6 header (no extension
// headers) followed by a whole TCP or UDP header. False if it isn't one, or
// the lengths in the headers disagree with len.
bool ParseLayout(const uint8_t* pkt, size_t len, Layout* out);

// Sum of the TCP/UDP pseudo-header for a transport length of l4_bytes.
uint64_t PseudoSum(const uint8_t* pkt, const Layout& l, size_t l4_bytes);

// True if the TCP or UDP checksum of pkt is right (an IPv4 UDP checksum of 0,
// "none", counts as right).
bool TransportChecksumValid(const uint8_t* pkt, size_t len, const Layout& l);

// Completes the checksum of a NEEDS_CSUM packet in place: the field at
// csum_start + csum_offset holds the pseudo-header sum, the rest is summed
// from csum_start to the end. False if the offsets do not fit in len.
bool FinishChecksum(uint8_t* pkt, size_t len, const VnetHdr& h);

// Splitting a super-packet (the kernel's GSO, in userspace).
enum class SegmentStatus { kOk, kNoRoom, kMalformed };
struct SegmentResult {
  SegmentStatus status = SegmentStatus::kOk;
  uint32_t count = 0;  // segments written
  size_t used = 0;     // bytes of out used (segments start 8-byte aligned)
};
// Writes the wire-size segments of pkt (with header h) to out[0..cap): each
// a full IP packet with a fresh IP header (length, IPv4 id + i, IPv4 header
// checksum), TCP sequence number, flags (FIN and PSH on the last segment
// only, CWR on the first only) or UDP length, and a computed L4 checksum.
// meta gets (out_base + offset, length) pairs, at most max_segments of them.
// A packet without GSO is copied as one segment, its checksum completed if
// NEEDS_CSUM is set. kNoRoom writes nothing. room: free bytes kept before
// and after each segment (segments still start 8-byte aligned from out).
SegmentResult Segment(const uint8_t* pkt, size_t len, const VnetHdr& h,
                      uint8_t* out, size_t cap, int32_t* meta,
                      uint32_t max_segments, size_t out_base, Room room = {});

// Coalescing on send. Offered to the planner as an array of packets; it
// takes the longest run from `first` that can go as one super-packet.
struct PacketRef {
  const uint8_t* data;
  size_t len;
};
constexpr size_t kMaxHead = kVnetHdrLen + 60 + 60;  // vnet + IPv4 + TCP max
constexpr uint32_t kMaxCoalesce = 64;
struct WritePlan {
  uint32_t count = 1;  // packets in this write (>= 1)
  // What to write before the payloads: the virtio header, then (count > 1)
  // the first packet's IP and L4 headers, rewritten for the whole.
  uint8_t head[kMaxHead];
  size_t head_len = kVnetHdrLen;
  uint16_t hdr_len = 0;  // count > 1: bytes of headers skipped in each packet
  size_t total = 0;      // bytes the write carries after the virtio header
};
// offloads: the TUN_F_* flags in force. Runs of TCP segments (ACK, maybe PSH
// on the last; same addresses, ports, ack, options; contiguous sequence
// numbers) and of UDP datagrams (same flow, all but the last of one size)
// are joined when TSO/USO is on and every segment's checksum is valid (a
// super-packet's checksum is left to the kernel, so a bad one must not hide
// in it). A packet that cannot be joined goes alone with a zero header.
void PlanWrite(const PacketRef* pkts, uint32_t n, uint32_t first,
               unsigned offloads, WritePlan* plan);

// How many wire-size packets pkt carries: 1 without GSO (or if it does not
// parse), else its payload over gso_size, rounded up.
uint32_t SegmentCount(const uint8_t* pkt, size_t len, const VnetHdr& h);

// Checks a packet that starts with its own virtio_net_hdr (a super-packet
// forwarded as the peer's TUN read it) before it is written: nullptr, or
// why not. The header must describe the packet: a known GSO type matching
// its IP version and protocol, a nonzero size, NEEDS_CSUM at the L4 checksum
// field; or no GSO and, if NEEDS_CSUM, offsets inside the packet.
const char* CheckVnetPacket(const uint8_t* p, size_t len);

}  // namespace vpn::tun
