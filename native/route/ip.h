// Address families as key types for the route table: an IPv4 address is a
// uint32_t, an IPv6 address an unsigned __int128, both in host order with the
// first address bit as the most significant bit. Everything in native/route is
// written once over a family (V4 or V6) and these few bit helpers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vpn {
namespace route {

using u128 = unsigned __int128;

struct V4 {
  using Key = uint32_t;
  static constexpr int kBits = 32;
};

struct V6 {
  using Key = u128;
  static constexpr int kBits = 128;
};

// n (1..64) bits of k starting at bit d (0 = most significant), as the low
// bits of the result; bits past the end of the key read as zero. d < W.
template <typename K>
inline uint64_t Bits(K k, int d, int n) {
  constexpr int W = sizeof(K) * 8;
  K shifted = static_cast<K>(k << d);
  return static_cast<uint64_t>(shifted >> (W - n));
}

// The network mask of a prefix length (0..W).
template <typename K>
inline K Mask(int len) {
  constexpr int W = sizeof(K) * 8;
  return len == 0 ? K(0) : static_cast<K>(~K(0) << (W - len));
}

// Bit i (0 = most significant) of k, i < W.
template <typename K>
inline int Bit(K k, int i) {
  constexpr int W = sizeof(K) * 8;
  return static_cast<int>((k >> (W - 1 - i)) & 1);
}

// Number of leading bits a and b share (W when equal).
inline int CommonPrefix(uint32_t a, uint32_t b) {
  uint32_t x = a ^ b;
  return x == 0 ? 32 : __builtin_clz(x);
}
inline int CommonPrefix(u128 a, u128 b) {
  u128 x = a ^ b;
  uint64_t hi = static_cast<uint64_t>(x >> 64);
  uint64_t lo = static_cast<uint64_t>(x);
  if (hi != 0) return __builtin_clzll(hi);
  if (lo != 0) return 64 + __builtin_clzll(lo);
  return 128;
}

// Network byte order <-> key.
inline uint32_t Load4(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline u128 Load6(const uint8_t* p) {
  uint64_t hi, lo;
  __builtin_memcpy(&hi, p, 8);
  __builtin_memcpy(&lo, p + 8, 8);
  return (u128{__builtin_bswap64(hi)} << 64) | __builtin_bswap64(lo);
}
inline void Store6(u128 k, uint8_t* p) {
  uint64_t hi = __builtin_bswap64(static_cast<uint64_t>(k >> 64));
  uint64_t lo = __builtin_bswap64(static_cast<uint64_t>(k));
  __builtin_memcpy(p, &hi, 8);
  __builtin_memcpy(p + 8, &lo, 8);
}

// One prefix with its value, the unit the builders work on.
template <typename K>
struct Entry {
  K key;  // masked to len
  int32_t value;
  uint8_t len;
};

}  // namespace route
}  // namespace vpn
