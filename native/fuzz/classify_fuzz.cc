// libFuzzer target for the packet classifier (RouteTable::Classify): the
// input is split into a small route table (prefixes from the first bytes)
// and a batch of packets with (offset, length) pairs taken from the input
// too, some of them out of range. Classify must reject bad pairs without
// touching memory outside the data, and agree with single lookups and with
// the control-plane trie. Some inputs make the IPv6 Poptrie build jump
// nodes from a handful of prefixes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "route/route_table.h"

// The route sources are compiled into the target itself, so that they get
// libFuzzer's coverage instrumentation (vpn_core is built without it); the
// copies in vpn_core are then never pulled from the archive.
#include "route/cidr.cc"         // NOLINT(build/include)
#include "route/route_table.cc"  // NOLINT(build/include)

using namespace vpn::route;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  RouteTable t;
  if (data[0] & 0x20) t.family6().fib.set_jump_density(64);
  size_t nroutes = data[0] % 32;
  size_t pos = 1;
  for (size_t i = 0; i < nroutes && pos + 18 <= size; ++i, pos += 18) {
    int len = data[pos];
    int32_t v = data[pos + 1];
    if (len & 0x80) {
      len %= 129;
      u128 k = Load6(data + pos + 2) & Mask<u128>(len);
      t.Insert6(k, len, v);
    } else {
      len %= 33;
      uint32_t k = Load4(data + pos + 2) & Mask<uint32_t>(len);
      t.Insert4(k, len, v);
    }
  }
  if (pos >= size) return 0;
  // The rest is the packet buffer (exact-size heap copy for ASan).
  size_t n = size - pos;
  uint8_t* buf = static_cast<uint8_t*>(std::malloc(n));
  std::memcpy(buf, data + pos, n);
  size_t count = 1 + data[0] % 17;
  std::vector<int32_t> meta(2 * count);
  for (size_t i = 0; i < count; ++i) {
    uint8_t a = data[(1 + 2 * i) % size], b = data[(2 + 2 * i) % size];
    meta[2 * i] = static_cast<int32_t>(a % (n + 2));
    meta[2 * i + 1] = static_cast<int32_t>(b % 64);
    if (meta[2 * i] + meta[2 * i + 1] > static_cast<int32_t>(n)) {
      if (data[0] & 0x40) {
        meta[2 * i + 1] = static_cast<int32_t>(n) - meta[2 * i];
        if (meta[2 * i + 1] < 0) meta[2 * i] = 0, meta[2 * i + 1] = 0;
      }
    }
  }
  std::vector<int32_t> out(count, 12345);
  ptrdiff_t bad = t.Classify(buf, n, meta.data(), count, out.data());
  if (bad >= 0) {
    // Nothing written, and the pair really is outside.
    for (int32_t o : out) {
      if (o != 12345) std::abort();
    }
    if (meta[2 * bad] + meta[2 * bad + 1] <= static_cast<int32_t>(n)) {
      std::abort();
    }
  } else {
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* p = buf + meta[2 * i];
      int32_t len = meta[2 * i + 1];
      int32_t want = kNotIp;
      int32_t cp = kNotIp;
      if (len >= 20 && (p[0] >> 4) == 4) {
        want = t.Lookup4(Load4(p + 16));
        cp = kNoMatch;
        t.Match4(Load4(p + 16), &cp);
      }
      if (len >= 40 && (p[0] >> 4) == 6) {
        want = t.Lookup6(Load6(p + 24));
        cp = kNoMatch;
        t.Match6(Load6(p + 24), &cp);
      }
      if (out[i] != want || want != cp) std::abort();
    }
  }
  std::free(buf);
  return 0;
}
