// libFuzzer target for the packet classifier (RouteTable::Classify): the
// input is split into a small route table (prefixes from the first bytes)
// and a batch of packets with (offset, length) pairs taken from the input
// too, some of them out of range:
//   [flags: routes = % 32, 0x20 jump nodes, 0x40 clamp pairs to the buffer]
//   [routes x (length: 12 + byte % 21 (IPv4) or % 117 (IPv6) bits;
//              value byte: 0x80 = IPv6; 16 key bytes)]
//   [count][count x (big-endian u16 offset, u8 length)][packet buffer]
// (scripts/fuzz-seeds.js writes seeds in this form). Classify must reject bad
// pairs without touching memory outside the data, and agree with single lookups
// and with the control-plane trie. Some inputs make the IPv6 Poptrie build jump
// nodes from a handful of prefixes.
#include <algorithm>
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

// The routes go into a table that lives across inputs and always holds two
// sentinel prefixes; each input's routes are inserted, checked and taken out
// again (replaced values put back), so every input sees the same logical
// table, patched in place as inserts are in production. A fresh table per
// input costs ~10 ms under ASan (the 1 MiB top levels): ~120 inputs a second.
// Two of them: one whose IPv6 Poptrie makes jump nodes from a few prefixes.
RouteTable& Shared(bool jumps) {
  static RouteTable* tables[2] = {nullptr, nullptr};
  RouteTable*& t = tables[jumps];
  if (!t) {
    t = new RouteTable;
    if (jumps) t->family6().fib.set_jump_density(64);
    t->Insert4(0xf0000000u, 4, 99);        // 240.0.0.0/4
    t->Insert6(u128{0xff} << 120, 8, 98);  // ff00::/8
  }
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

int Check(RouteTable& t, const uint8_t* data, size_t size, size_t pos);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  RouteTable& t = Shared(data[0] & 0x20);
  std::vector<Undo> undo;
  size_t nroutes = data[0] % 32;
  size_t pos = 1;
  for (size_t i = 0; i < nroutes && pos + 18 <= size; ++i, pos += 18) {
    // The value byte's top bit says IPv6. Lengths from 12 bits: a shorter
    // prefix repaints up to 2^18 top-level slots (65 inputs a second), and
    // the top level is the same code whatever the length; the table's
    // sentinels are short ones.
    uint8_t b = data[pos];
    bool v6 = data[pos + 1] & 0x80;
    int32_t v = data[pos + 1] & 0x7f;
    int len = 12 + b % (v6 ? 117 : 21);
    Undo u{};
    u.old = -1;
    if (v6) {
      u128 k = Load6(data + pos + 2) & Mask<u128>(len);
      u.v6 = true;
      u.k6 = k;
      t.Get6(k, len, &u.old);
      t.Insert6(k, len, v);
    } else {
      uint32_t k = Load4(data + pos + 2) & Mask<uint32_t>(len);
      u.k4 = k;
      t.Get4(k, len, &u.old);
      t.Insert4(k, len, v);
    }
    u.len = len;
    undo.push_back(u);
  }
  Check(t, data, size, pos);
  Restore(t, undo);
  // The table is back to its two sentinels.
  if (t.size() != 2 || t.Lookup4(0xf0000001u) != 99 ||
      t.Lookup6(u128{0xff} << 120) != 98 || t.Lookup4(0x0a000001u) != kNoMatch)
    std::abort();
  return 0;
}

namespace {

// Classifies the batch the rest of the input describes against t.
int Check(RouteTable& t, const uint8_t* data, size_t size, size_t pos) {
  // Then the batch: [count][count x (big-endian u16 offset, u8 length)],
  // and the rest is the packet buffer (an exact-size heap copy for ASan).
  if (pos >= size) return 0;
  size_t count = 1 + data[pos++] % 17;
  std::vector<int32_t> meta(2 * count);
  size_t pairs = pos;
  pos = std::min(size, pos + 3 * count);
  size_t n = size - pos;
  uint8_t* buf = static_cast<uint8_t*>(std::malloc(n ? n : 1));
  if (n) std::memcpy(buf, data + pos, n);
  for (size_t i = 0; i < count; ++i) {
    size_t at = pairs + 3 * i;
    uint32_t off = at + 1 < pos ? (data[at] << 8 | data[at + 1]) : 0;
    uint32_t len = at + 2 < pos ? data[at + 2] : 0;
    meta[2 * i] = static_cast<int32_t>(off % (n + 2));
    meta[2 * i + 1] = static_cast<int32_t>(len % 64);
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

}  // namespace
