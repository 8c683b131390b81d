// Packets for the C++ tests of native/tun: TCP and UDP segments of one
// flow with valid checksums (checked against a plain RFC 1071 reference),
// runs of them, and the bytes a coalesced write carries.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "tun/offload.h"

namespace testpkt {

using namespace vpn::tun;

using Bytes = std::vector<uint8_t>;

// RFC 1071, word by word in network order: the reference.
inline uint16_t RefChecksum(const Bytes& pseudo, const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  Bytes all(pseudo);
  all.insert(all.end(), p, p + n);
  if (all.size() % 2) all.push_back(0);
  for (size_t i = 0; i < all.size(); i += 2) sum += all[i] << 8 | all[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

inline void Put16(uint8_t* p, unsigned v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v & 0xffff);
}
inline uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

struct Flow {
  bool v6 = false;
  bool tcp = true;
  size_t options = 12;  // TCP options bytes (timestamps-sized)
};

// Segment i of a flow: payload bytes depend on (i, byte), valid checksums.
inline Bytes MakeSegment(const Flow& f, uint32_t i, size_t payload,
                         uint32_t seq, uint8_t flags = 0x10) {
  size_t ip = f.v6 ? 40 : 20;
  size_t l4 = f.tcp ? 20 + f.options : 8;
  Bytes p(ip + l4 + payload);
  uint8_t* b = p.data();
  if (f.v6) {
    b[0] = 0x60;
    Put16(b + 4, static_cast<unsigned>(l4 + payload));
    b[6] = f.tcp ? 6 : 17;
    b[7] = 64;
    b[8] = 0x20, b[9] = 0x01, b[10] = 0x0d, b[11] = 0xb8, b[23] = 1;
    b[24] = 0x20, b[25] = 0x01, b[26] = 0x0d, b[27] = 0xb8, b[39] = 2;
  } else {
    b[0] = 0x45;
    Put16(b + 2, static_cast<unsigned>(p.size()));
    Put16(b + 4, 1000 + i);
    b[6] = 0x40;  // DF
    b[8] = 64;
    b[9] = f.tcp ? 6 : 17;
    b[12] = 198, b[13] = 18, b[14] = 0, b[15] = 1;
    b[16] = 198, b[17] = 18, b[18] = 0, b[19] = 2;
    Bytes none;
    uint16_t c = RefChecksum(none, b, 20);
    Put16(b + 10, c);
  }
  uint8_t* t = b + ip;
  Put16(t, 40000);
  Put16(t + 2, 5201);
  if (f.tcp) {
    Put32(t + 4, seq);
    Put32(t + 8, 777);
    t[12] = static_cast<uint8_t>((l4 / 4) << 4);
    t[13] = flags;
    Put16(t + 14, 512);
    for (size_t k = 0; k < f.options; ++k) t[20 + k] = static_cast<uint8_t>(k);
  } else {
    Put16(t + 4, static_cast<unsigned>(8 + payload));
  }
  for (size_t k = 0; k < payload; ++k)
    t[l4 + k] = static_cast<uint8_t>(i * 31 + k * 7);
  Bytes pseudo;
  if (f.v6) {
    pseudo.assign(b + 8, b + 40);
    Bytes tail = {0,
                  0,
                  static_cast<uint8_t>((l4 + payload) >> 8),
                  static_cast<uint8_t>(l4 + payload),
                  0,
                  0,
                  0,
                  static_cast<uint8_t>(f.tcp ? 6 : 17)};
    pseudo.insert(pseudo.end(), tail.begin(), tail.end());
  } else {
    pseudo.assign(b + 12, b + 20);
    Bytes tail = {0, static_cast<uint8_t>(f.tcp ? 6 : 17),
                  static_cast<uint8_t>((l4 + payload) >> 8),
                  static_cast<uint8_t>(l4 + payload)};
    pseudo.insert(pseudo.end(), tail.begin(), tail.end());
  }
  uint16_t c = RefChecksum(pseudo, t, l4 + payload);
  if (!f.tcp && c == 0) c = 0xffff;
  Put16(t + (f.tcp ? 16 : 6), c);
  return p;
}

// A run of n segments of g bytes (the last `last` bytes), PSH on the last.
inline std::vector<Bytes> MakeRun(const Flow& f, uint32_t n, size_t g,
                                  size_t last) {
  std::vector<Bytes> run;
  uint32_t seq = 1000000;
  for (uint32_t i = 0; i < n; ++i) {
    size_t len = i + 1 == n ? last : g;
    run.push_back(MakeSegment(f, i, len, seq, i + 1 == n ? 0x18 : 0x10));
    seq += static_cast<uint32_t>(len);
  }
  return run;
}

inline std::vector<PacketRef> Refs(const std::vector<Bytes>& pkts) {
  std::vector<PacketRef> r;
  for (const Bytes& p : pkts) r.push_back({p.data(), p.size()});
  return r;
}

constexpr unsigned kAll =
    kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFUso4 | kTunFUso6;

// The bytes a write of `plan` would carry after the virtio header.
inline Bytes Assemble(const WritePlan& plan, const std::vector<Bytes>& pkts,
                      uint32_t first) {
  Bytes out(plan.head + kVnetHdrLen, plan.head + plan.head_len);
  for (uint32_t m = 0; m < plan.count; ++m) {
    const Bytes& p = pkts[first + m];
    out.insert(out.end(), p.begin() + plan.hdr_len, p.end());
  }
  return out;
}

}  // namespace testpkt
