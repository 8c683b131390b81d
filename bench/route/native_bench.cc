// C++ benchmark of the route-table core and the alternatives it was chosen
// over, on the sets written by `node bench/route/data.js`:
//
//   g++ -O3 -std=c++17 -Inative bench/route/native_bench.cc
//       native/route/cidr.cc native/route/route_table.cc -pthread
//       -o bench/bin/route
//   bench/bin/route [--no-alternatives] [--memory] [set ...]
//
// --memory first measures this machine's memory floor (MemoryFloor): a
// dependent load over 1 GiB, alone and 16 at a time. IPv4 sets also report
// batch256-uniform: uniform random keys instead of the set's.
// (bench/route/run.js does both steps.) Prints one JSON object per line:
// structure, set, ns per lookup (single and batched), build ms, bytes and
// bytes per prefix; the parts of a bulk load; what changes cost. Lookup keys
// come from <set>.addrs.bin: half inside prefixes of the set, half random.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "route/cidr.h"
#include "route/poptrie.h"
#include "route/route_table.h"

using namespace vpn::route;

namespace {

std::string dir = "bench/.cache/route";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename F>
double Best(int trials, F&& f) {
  double best = 1e30;
  for (int t = 0; t < trials; ++t) {
    double t0 = Now();
    f();
    best = std::min(best, Now() - t0);
  }
  return best;
}

volatile int64_t sink;

// DIR-24-8-BASIC (Gupta, Lin, McKeown 1998): 2^24 entries indexed by the
// first 24 bits; longer prefixes in 256-entry second-level blocks.
struct Dir248 {
  std::vector<uint32_t> t24;  // value+1, 0 none, or 0x80000000|block
  std::vector<uint32_t> tlong;
  void Build(const std::vector<Entry<uint32_t>>& es) {
    t24.assign(1u << 24, 0);
    tlong.clear();
    for (const auto& e : es) {
      if (e.len > 24) continue;
      uint32_t first = e.key >> 8, span = 1u << (24 - e.len);
      for (uint32_t s = first; s < first + span; ++s) t24[s] = e.value + 1;
    }
    for (const auto& e : es) {
      if (e.len <= 24) continue;
      uint32_t& slot = t24[e.key >> 8];
      if (!(slot & 0x80000000u)) {
        uint32_t block = static_cast<uint32_t>(tlong.size() / 256);
        tlong.resize(tlong.size() + 256, slot);
        slot = 0x80000000u | block;
      }
      uint32_t base = (slot & 0x7fffffffu) * 256;
      uint32_t first = e.key & 255, span = 1u << (32 - e.len);
      for (uint32_t s = first; s < first + span; ++s)
        tlong[base + s] = e.value + 1;
    }
  }
  int32_t Lookup(uint32_t a) const {
    uint32_t e = t24[a >> 8];
    if (e & 0x80000000u) e = tlong[(e & 0x7fffffffu) * 256 + (a & 255)];
    return static_cast<int32_t>(e) - 1;
  }
  size_t bytes() const { return (t24.size() + tlong.size()) * 4; }
};

struct Set {
  std::string name;
  std::string text;
  std::vector<int32_t> values;
  size_t count = 0;
  int family = 4;
  std::vector<uint32_t> a4;
  std::vector<u128> a6;
  std::vector<uint8_t> raw6;
};

Set Load(const std::string& name) {
  Set s;
  s.name = name;
  s.text = ReadFile(dir + "/" + name + ".txt");
  std::string v = ReadFile(dir + "/" + name + ".values.bin");
  s.values.resize(v.size() / 4);
  std::memcpy(s.values.data(), v.data(), v.size());
  s.count = s.values.size();
  std::string a = ReadFile(dir + "/" + name + ".addrs.bin");
  s.family = (name.rfind("real6", 0) == 0 || name.rfind("syn6", 0) == 0 ||
              name.rfind("scat6", 0) == 0 || name.rfind("srv6", 0) == 0)
                 ? 6
                 : 4;
  if (s.family == 4) {
    s.a4.resize(a.size() / 4);
    std::memcpy(s.a4.data(), a.data(), a.size());
  } else {
    s.raw6.assign(a.begin(), a.end());
    s.a6.resize(a.size() / 16);
    for (size_t i = 0; i < s.a6.size(); ++i) {
      s.a6[i] = Load6(s.raw6.data() + 16 * i);
    }
  }
  return s;
}

void Emit(const Set& s, const char* structure, const char* what, double ns,
          double build_ms, size_t bytes) {
  std::printf(
      "{\"set\":\"%s\",\"prefixes\":%zu,\"structure\":\"%s\",\"what\":\"%s\","
      "\"ns\":%.2f,\"buildMs\":%.1f,\"bytes\":%zu,\"bytesPerPrefix\":%.2f}\n",
      s.name.c_str(), s.count, structure, what, ns, build_ms, bytes,
      static_cast<double>(bytes) / s.count);
  std::fflush(stdout);
}

template <typename K>
std::vector<Entry<K>> Entries(const Set& s) {
  std::vector<Entry<K>> es;
  const char* p = s.text.data();
  const char* end = p + s.text.size();
  for (size_t i = 0; i < s.count; ++i) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const char* stop = nl ? nl : end;
    ParsedPrefix pp;
    ParsePrefix(p, stop - p, &pp);
    if constexpr (sizeof(K) == 4) {
      es.push_back(Entry<K>{pp.addr4, s.values[i], pp.len});
    } else {
      es.push_back(Entry<K>{pp.addr6, s.values[i], pp.len});
    }
    p = stop + 1;
  }
  return es;
}

// ns per lookup: single calls, and batches of `batch` through LookupBatch.
template <typename T, typename K>
void MeasureLookups(const Set& s, const T& t, const std::vector<K>& keys,
                    const char* name, double build_ms, size_t bytes) {
  size_t n = keys.size();
  std::vector<int32_t> out(n);
  double single = Best(5, [&] {
    int64_t acc = 0;
    for (size_t i = 0; i < n; ++i) acc += t.Lookup(keys[i]);
    sink = acc;
  });
  Emit(s, name, "single", single * 1e9 / n, build_ms, bytes);
  if constexpr (!std::is_same<T, Dir248>::value) {
    for (size_t batch : {16, 256, 4096}) {
      double b = Best(5, [&] {
        for (size_t i = 0; i < n; i += batch) {
          t.LookupBatch(keys.data() + i, out.data() + i,
                        std::min(batch, n - i));
        }
        sink = out[n / 2];
      });
      Emit(s, name, ("batch" + std::to_string(batch)).c_str(), b * 1e9 / n,
           build_ms, bytes);
    }
  }
}

// The memory floor of this machine, for the tables' figures to be read
// against: a dependent pointer chase over 1 GiB (one pointer per cache
// line, a random cycle: every load a miss to DRAM and, with 4 KiB pages,
// mostly a TLB miss too), alone and as 16 chases interleaved (what a batch
// of independent lookups can overlap at best).
void MemoryFloor() {
  const size_t lines = (size_t{1} << 30) / 64;
  std::vector<uint32_t> next(lines * 16);  // 64 bytes a line, the index first
  std::vector<uint32_t> order(lines);
  for (size_t i = 0; i < lines; ++i) order[i] = static_cast<uint32_t>(i);
  uint64_t x = 88172645463325252ull;
  for (size_t i = lines - 1; i > 0; --i) {  // Sattolo: one cycle
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::swap(order[i], order[x % i]);
  }
  for (size_t i = 0; i < lines; ++i)
    next[16 * size_t{order[i]}] = order[(i + 1) % lines];
  const size_t steps = 4'000'000;
  double one = Best(3, [&] {
    uint32_t p = 0;
    for (size_t i = 0; i < steps; ++i) p = next[16 * size_t{p}];
    sink = p;
  });
  double sixteen = Best(3, [&] {
    uint32_t p[16];
    for (int k = 0; k < 16; ++k) p[k] = order[k * (lines / 16)];
    for (size_t i = 0; i < steps / 16; ++i)
      for (int k = 0; k < 16; ++k) p[k] = next[16 * size_t{p[k]}];
    int64_t acc = 0;
    for (int k = 0; k < 16; ++k) acc += p[k];
    sink = acc;
  });
  std::printf(
      "{\"set\":\"-\",\"structure\":\"memory\",\"what\":\"dram-latency\","
      "\"ns\":%.2f}\n",
      one * 1e9 / steps);
  std::printf(
      "{\"set\":\"-\",\"structure\":\"memory\",\"what\":\"dram-16-chases\","
      "\"ns\":%.2f}\n",
      sixteen * 1e9 / steps);
  std::fflush(stdout);
}

// jump_density: for IPv6, the Poptrie's (0: no jump nodes; see poptrie.h).
template <int S, bool PC, typename K>
void Variant(const Set& s, const std::vector<Entry<K>>& sorted,
             const std::vector<K>& keys, const char* name,
             unsigned jump_density = 2) {
  auto t = std::make_unique<Poptrie<K, S, PC>>();
  t->set_jump_density(jump_density);
  std::vector<Entry<K>> scratch;
  double build = Best(3, [&] {
    scratch = sorted;
    t->Build(scratch.data(), scratch.size());
  });
  MeasureLookups(s, *t, keys, name, build * 1e3, t->bytes());
  std::fprintf(stderr, "  %s: %zu nodes, %zu leaves\n", name, t->node_count(),
               t->leaf_count());
}

// What a change costs the next lookup (the patch runs inside it), on the
// loaded table: per change of an existing prefix (delete, then insert with
// another value), of a new longest prefix (/24, /48 inside a prefix of the
// set) and of a short one (a /8, a /16: top-level slots repainted); and a
// full rebuild, what a run of changes over 1/32 of the table costs once.
template <typename K>
void MeasureUpdates(const Set& s, RouteTable* table,
                    const std::vector<Entry<K>>& sorted) {
  constexpr bool v6 = sizeof(K) == 16;
  auto insert = [&](K k, int len, int32_t v) {
    if constexpr (v6) {
      table->Insert6(k, len, v);
    } else {
      table->Insert4(k, len, v);
    }
  };
  auto erase = [&](K k, int len) {
    if constexpr (v6) {
      table->Erase6(k, len);
    } else {
      table->Erase4(k, len);
    }
  };
  auto lookup = [&](K k) {
    if constexpr (v6) {
      sink = table->Lookup6(k);
    } else {
      sink = table->Lookup4(k);
    }
  };
  uint64_t x = 88172645463325252ull;
  auto rnd = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const size_t n = 2000;
  std::vector<Entry<K>> picks(n);
  for (auto& e : picks) e = sorted[rnd() % sorted.size()];
  auto emit = [&](const char* what, double seconds, size_t ops) {
    std::printf(
        "{\"set\":\"%s\",\"prefixes\":%zu,\"structure\":\"updates\","
        "\"what\":\"%s\",\"us\":%.2f}\n",
        s.name.c_str(), s.count, what, seconds * 1e6 / ops);
  };
  double t = Best(3, [&] {
    for (const auto& e : picks) {
      erase(e.key, e.len);
      lookup(e.key);
      insert(e.key, e.len, e.value);
      lookup(e.key);
    }
  });
  emit("existing prefix, delete or insert, + lookup", t, 2 * n);
  int longer = v6 ? 48 : 24;
  t = Best(3, [&] {
    for (const auto& e : picks) {
      if (e.len >= longer) continue;
      K k = e.key | (static_cast<K>(rnd()) << (sizeof(K) * 8 - longer) &
                     ~Mask<K>(e.len) & Mask<K>(longer));
      insert(k, longer, 7);
      lookup(k);
      erase(k, longer);
      lookup(k);
    }
  });
  size_t shorter = 0;
  for (const auto& e : picks) shorter += e.len < longer;
  emit(v6 ? "new /48, insert or delete, + lookup"
          : "new /24, insert or delete, + lookup",
       t, 2 * (shorter ? shorter : 1));
  int top = v6 ? 16 : 8;
  K k0 = sorted[sorted.size() / 2].key & Mask<K>(top);
  t = Best(3, [&] {
    insert(k0, top, 9);
    lookup(k0);
    erase(k0, top);
    lookup(k0);
  });
  emit(v6 ? "a /16, insert or delete, + lookup"
          : "a /8, insert or delete, + lookup",
       t, 2);
  double rebuild = Best(3, [&] {
    if constexpr (v6) {
      table->family6().Rebuild();
    } else {
      table->family4().Rebuild();
    }
  });
  emit("full rebuild (after changes over 1/32 of the table)", rebuild, 1);
}

void Run(const std::string& name, bool alternatives) {
  Set s = Load(name);
  std::fprintf(stderr, "%s: %zu prefixes, %zu keys\n", name.c_str(), s.count,
               s.family == 4 ? s.a4.size() : s.a6.size());
  // The production path: parse + sort + both structures, as insertMany.
  std::unique_ptr<RouteTable> table;
  double load = Best(3, [&] {
    table = std::make_unique<RouteTable>();
    BulkResult r;
    BulkError e;
    if (!table->InsertMany(s.text.data(), s.text.size(), s.count,
                           s.values.data(), s.count, 0, &r, &e)) {
      std::fprintf(stderr, "load failed at %zu\n", e.index);
      std::exit(1);
    }
  });
  // Parts of it.
  double parse = 0, sort = 0, cp = 0, fib = 0;
  if (s.family == 4) {
    std::vector<Entry<uint32_t>> es;
    parse = Best(3, [&] { es = Entries<uint32_t>(s); });
    std::vector<Entry<uint32_t>> sorted;
    sort = Best(3, [&] {
      sorted = es;
      SortUnique4(&sorted);
    });
    Patricia<uint32_t> p;
    cp = Best(3, [&] { p.BuildSorted(sorted.data(), sorted.size()); });
    Poptrie<uint32_t, 18, false> f;
    std::vector<Entry<uint32_t>> scratch;
    fib = Best(3, [&] {
      scratch = sorted;
      f.Build(scratch.data(), scratch.size());
    });
    const auto& t = table->family4().fib;
    MeasureLookups(s, t, s.a4, "poptrie18", load * 1e3, table->lookup_bytes());
    {
      // Uniform keys: every address equally likely (a server's inbound
      // traffic), where the set's keys are half inside its prefixes.
      std::vector<uint32_t> uniform(s.a4.size());
      uint64_t x = 0x9e3779b97f4a7c15ull;
      for (auto& k : uniform) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        k = static_cast<uint32_t>(x >> 32);
      }
      std::vector<int32_t> out(uniform.size());
      double b = Best(5, [&] {
        for (size_t i = 0; i < uniform.size(); i += 256)
          t.LookupBatch(uniform.data() + i, out.data() + i,
                        std::min<size_t>(256, uniform.size() - i));
        sink = out[uniform.size() / 2];
      });
      Emit(s, "poptrie18", "batch256-uniform", b * 1e9 / uniform.size(),
           load * 1e3, table->lookup_bytes());
    }
    MeasureUpdates(s, table.get(), sorted);
    if (alternatives) {
      Variant<16, false>(s, sorted, s.a4, "poptrie16");
      Variant<20, false>(s, sorted, s.a4, "poptrie20");
      Dir248 d;
      double b = Best(3, [&] { d.Build(sorted); });
      MeasureLookups(s, d, s.a4, "dir-24-8", b * 1e3, d.bytes());
      // The control plane alone (what lookups would cost on the fallback).
      double cpl = Best(3, [&] {
        int64_t acc = 0;
        int32_t v;
        for (size_t i = 0; i < s.a4.size(); i += 3) acc += p.Match(s.a4[i], &v);
        sink = acc;
      });
      Emit(s, "patricia", "single", cpl * 1e9 / (s.a4.size() / 3), cp * 1e3,
           p.bytes());
    }
  } else {
    std::vector<Entry<u128>> es;
    parse = Best(3, [&] { es = Entries<u128>(s); });
    std::vector<Entry<u128>> sorted;
    sort = Best(3, [&] {
      sorted = es;
      SortUnique6(&sorted);
    });
    Patricia<u128> p;
    cp = Best(3, [&] { p.BuildSorted(sorted.data(), sorted.size()); });
    Poptrie<u128, 18, true> f;
    std::vector<Entry<u128>> scratch;
    fib = Best(3, [&] {
      scratch = sorted;
      f.Build(scratch.data(), scratch.size());
    });
    const auto& t = table->family6().fib;
    MeasureLookups(s, t, s.a6, "poptrie18pc", load * 1e3,
                   table->lookup_bytes());
    MeasureUpdates(s, table.get(), sorted);
    // The API's layout: 16-byte network-order addresses.
    std::vector<int32_t> out(s.a6.size());
    double raw = Best(5, [&] {
      for (size_t i = 0; i < s.a6.size(); i += 256) {
        table->LookupBatch6(s.raw6.data() + 16 * i, out.data() + i,
                            std::min<size_t>(256, s.a6.size() - i));
      }
      sink = out[7];
    });
    Emit(s, "poptrie18pc", "batch256-bytes", raw * 1e9 / s.a6.size(),
         load * 1e3, table->lookup_bytes());
    if (alternatives) {
      Variant<18, true>(s, sorted, s.a6, "poptrie18pc-nojump", 0);
      Variant<18, true>(s, sorted, s.a6, "poptrie18pc-jump4", 4);
      Variant<16, true>(s, sorted, s.a6, "poptrie16pc");
      Variant<20, true>(s, sorted, s.a6, "poptrie20pc");
      double cpl = Best(3, [&] {
        int64_t acc = 0;
        int32_t v;
        for (size_t i = 0; i < s.a6.size(); i += 3) acc += p.Match(s.a6[i], &v);
        sink = acc;
      });
      Emit(s, "patricia", "single", cpl * 1e9 / (s.a6.size() / 3), cp * 1e3,
           p.bytes());
    }
  }
  std::printf(
      "{\"set\":\"%s\",\"prefixes\":%zu,\"structure\":\"build-parts\","
      "\"parseMs\":%.1f,\"sortMs\":%.1f,\"patriciaMs\":%.1f,\"poptrieMs\":%.1f,"
      "\"insertManyMs\":%.1f,\"controlBytes\":%zu}\n",
      s.name.c_str(), s.count, parse * 1e3, sort * 1e3, cp * 1e3, fib * 1e3,
      load * 1e3, table->control_bytes());
}

}  // namespace

int main(int argc, char** argv) {
  bool alternatives = true;
  std::vector<std::string> sets;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-alternatives") {
      alternatives = false;
    } else if (a.rfind("--dir=", 0) == 0) {
      dir = a.substr(6);
    } else {
      sets.push_back(a);
    }
  }
  if (sets.empty()) {
    sets = {"syn4_1m",  "syn6_700k", "real4",     "real6",
            "syn4_10k", "scat4_1m",  "scat6_700k"};
  }
  if (std::find(sets.begin(), sets.end(), "--memory") != sets.end()) {
    MemoryFloor();
    sets.erase(std::remove(sets.begin(), sets.end(), "--memory"), sets.end());
  }
  for (const auto& s : sets) Run(s, alternatives);
}
