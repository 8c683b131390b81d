// libFuzzer target for the packet classifier (RouteTable::Classify): the
// input is split into a few routes (prefixes from the first bytes) and a
// batch of packets with (offset, length) pairs taken from the input too,
// some of them out of range. Classify must reject bad pairs without
// touching memory outside the data, and agree with single lookups.
//
// The routes go into one table that lives across inputs and always holds
// two sentinel prefixes; each input's routes are inserted, checked, and
// taken out again (replaced values put back), so every input sees the same
// logical table and the lookup structure is patched in place, not rebuilt:
// that is the incremental path inserts take in production, and a fresh
// table per input cost ~10 ms under ASan (the 1 MiB top levels).
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

namespace {

// A change to undo: the prefix, and its value before (-1: it was not there).
struct Undo {
  bool v6;
  uint32_t k4;
  u128 k6;
  int len;
  int32_t old;
};

RouteTable& Shared() {
  static RouteTable* t = [] {
    auto* t = new RouteTable;
    t->Insert4(0xf0000000u, 4, 99);        // 240.0.0.0/4
    t->Insert6(u128{0xff} << 120, 8, 98);  // ff00::/8
    return t;
  }();
  return *t;
}

void Restore(RouteTable& t, const std::vector<Undo>& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    if (it->v6) {
      if (it->old < 0)
        t.Erase6(it->k6, it->len);
      else
        t.Insert6(it->k6, it->len, it->old);
    } else {
      if (it->old < 0)
        t.Erase4(it->k4, it->len);
      else
        t.Insert4(it->k4, it->len, it->old);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  RouteTable& t = Shared();
  std::vector<Undo> undo;
  size_t nroutes = data[0] % 32;
  size_t pos = 1;
  for (size_t i = 0; i < nroutes && pos + 18 <= size; ++i, pos += 18) {
    // Lengths: the whole range for one route in eight; otherwise longer
    // than 12 bits, because a short prefix repaints up to 2^18 top-level
    // slots (and the top level is all the same code whatever the length).
    uint8_t b = data[pos];
    bool wide = (b & 0x70) == 0x70;
    int len;
    int32_t v = data[pos + 1];
    Undo u{};
    u.old = -1;
    if (b & 0x80) {
      len = wide ? b % 129 : 12 + b % 117;
      u128 k = Load6(data + pos + 2) & Mask<u128>(len);
      u.v6 = true;
      u.k6 = k;
      t.Get6(k, len, &u.old);
      t.Insert6(k, len, v);
    } else {
      len = wide ? b % 33 : 12 + b % 21;
      uint32_t k = Load4(data + pos + 2) & Mask<uint32_t>(len);
      u.k4 = k;
      t.Get4(k, len, &u.old);
      t.Insert4(k, len, v);
    }
    u.len = len;
    undo.push_back(u);
  }
  if (pos >= size) {
    Restore(t, undo);
    return 0;
  }
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
      if (len >= 20 && (p[0] >> 4) == 4) want = t.Lookup4(Load4(p + 16));
      if (len >= 40 && (p[0] >> 4) == 6) want = t.Lookup6(Load6(p + 24));
      if (out[i] != want) std::abort();
    }
  }
  std::free(buf);
  Restore(t, undo);
  // The table is back to its two sentinels.
  if (t.size() != 2 || t.Lookup4(0xf0000001u) != 99 ||
      t.Lookup6(u128{0xff} << 120) != 98 || t.Lookup4(0x0a000001u) != kNoMatch)
    std::abort();
  return 0;
}
