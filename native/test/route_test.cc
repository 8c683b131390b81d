// Unit tests of native/route: the CIDR parser, the control-plane trie, the
// Poptrie (built in full and patched in place) against a naive reference,
// bulk loads and the packet classifier.
#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "route/cidr.h"
#include "route/route_table.h"
#include "test/check.h"

using vpn::route::Entry;
using vpn::route::Mask;
using vpn::route::ParsedAddress;
using vpn::route::ParsedPrefix;
using vpn::route::ParsePrefix;
using vpn::route::ParseStatus;
using vpn::route::RouteTable;
using vpn::route::u128;

namespace {

// The reference: every prefix in a map, longest match by trying every length.
template <typename K>
struct Naive {
  static constexpr int W = sizeof(K) * 8;
  std::map<std::pair<K, int>, int32_t> m;
  int per_len[W + 1] = {};
  void Insert(K k, int len, int32_t v) {
    if (m.insert_or_assign({k & Mask<K>(len), len}, v).second) ++per_len[len];
  }
  bool Erase(K k, int len) {
    if (m.erase({k & Mask<K>(len), len}) == 0) return false;
    --per_len[len];
    return true;
  }
  int32_t Lookup(K a, int* matched = nullptr) const {
    for (int len = W; len >= 0; --len) {
      if (per_len[len] == 0) continue;
      auto it = m.find({a & Mask<K>(len), len});
      if (it != m.end()) {
        if (matched) *matched = len;
        return it->second;
      }
    }
    if (matched) *matched = -1;
    return -1;
  }
};

ParseStatus Parse(const std::string& s, ParsedPrefix* p) {
  return ParsePrefix(s.data(), s.size(), p);
}

u128 Make6(uint64_t hi, uint64_t lo) { return (u128{hi} << 64) | lo; }

// Random prefix biased towards nesting: a few "hot" bases, all lengths.
template <typename K>
K RandomKey(std::mt19937_64& rng, const std::vector<K>& hot) {
  K k;
  if constexpr (sizeof(K) == 4) {
    k = static_cast<K>(rng());
  } else {
    k = Make6(rng(), rng());
  }
  if (!hot.empty() && rng() % 4 != 0) {
    K h = hot[rng() % hot.size()];
    int keep = static_cast<int>(rng() % (sizeof(K) * 8 + 1));
    k = (h & Mask<K>(keep)) | (k & ~Mask<K>(keep));
  }
  return k;
}

// Random inserts and deletes, each followed by lookups, against the naive
// reference. jump_density > 0 sets the IPv6 Poptrie's (a high one makes jump
// nodes out of the small regions that random prefixes give).
template <typename K>
void Differential(uint64_t seed, int ops, int lookups_per_check,
                  unsigned jump_density = 0) {
  constexpr int W = sizeof(K) * 8;
  std::mt19937_64 rng(seed);
  std::vector<K> hot;
  for (int i = 0; i < 8; ++i) hot.push_back(RandomKey<K>(rng, {}));
  Naive<K> ref;
  vpn::route::Family<K, 18, (W == 128)> fam;
  if (jump_density != 0) fam.fib.set_jump_density(jump_density);
  size_t jumps_seen = 0;
  std::vector<std::pair<K, int>> live;
  std::vector<K> keys;
  std::vector<int32_t> wants, batch;
  int mismatches = 0;
  for (int op = 0; op < ops; ++op) {
    int kind = static_cast<int>(rng() % 10);
    if (kind < 6 || live.empty()) {
      int len = static_cast<int>(rng() % (W + 1));
      K k = RandomKey<K>(rng, hot) & Mask<K>(len);
      // Few values (runs merge) or many (every leaf its own run); with
      // seeds 7 and up, values at the edges of the leaf widths (leaves.h)
      // that get larger as the run goes on, so that patches widen the
      // leaves of a patched structure (2 -> 3 -> 4 bytes).
      int32_t v = static_cast<int32_t>(rng() % (seed % 2 ? 5 : 1000));
      if (seed >= 7 && rng() % 2) {
        static constexpr int32_t kEdges[] = {
            0xfffe, 0xffff, 0x10000, 0xfffffe, 0xffffff, 0x1000000, 0x7fffffff};
        int upto = 1 + static_cast<int>(7 * static_cast<int64_t>(op) / ops);
        v = kEdges[rng() % static_cast<unsigned>(upto)];
      }
      ref.Insert(k, len, v);
      fam.Insert(k, len, v);
      live.push_back({k, len});
    } else {
      size_t at = rng() % live.size();
      auto [k, len] = live[at];
      live[at] = live.back();
      live.pop_back();
      bool a = ref.Erase(k, len);
      bool b = fam.Erase(k, len);
      if (a != b) ++mismatches;
    }
    keys.clear();
    wants.clear();
    for (int q = 0; q < lookups_per_check; ++q) {
      K a = RandomKey<K>(rng, hot);
      if (!live.empty() && q % 2 == 0) {
        auto [k, len] = live[rng() % live.size()];
        a = k | (a & ~Mask<K>(len));
      }
      int32_t want = ref.Lookup(a);
      fam.Sync();
      int32_t got = fam.Lookup(a);
      int32_t cpv = -1;
      fam.cp.Match(a, &cpv);
      if (want != got || want != cpv) ++mismatches;
      keys.push_back(a);
      wants.push_back(want);
    }
    // The same keys through the batch path (lanes, 64-bit cursors).
    batch.assign(keys.size(), 0);
    fam.fib.LookupBatch(keys.data(), batch.data(), keys.size());
    for (size_t q = 0; q < keys.size(); ++q) mismatches += batch[q] != wants[q];
    if (jump_density != 0 && op % 100 == 0) {
      jumps_seen = std::max(jumps_seen, fam.fib.jump_count());
    }
  }
  if (jump_density != 0) CHECK(jumps_seen > 0);
  if (seed >= 7) CHECK_EQ(fam.fib.leaf_width(), 4u);
  CHECK_EQ(fam.size(), ref.m.size());
  CHECK_EQ(mismatches, 0);
  // A full rebuild must agree with the patched structure.
  std::vector<Entry<K>> es;
  fam.cp.CollectAll(&es);
  CHECK_EQ(es.size(), ref.m.size());
  vpn::route::Family<K, 18, (W == 128)> fresh;
  if (jump_density != 0) fresh.fib.set_jump_density(jump_density);
  fresh.Assign(&es);
  int diff = 0;
  for (int q = 0; q < 20000; ++q) {
    K a = RandomKey<K>(rng, hot);
    if (fresh.Lookup(a) != ref.Lookup(a) || fam.Lookup(a) != ref.Lookup(a)) {
      ++diff;
    }
  }
  CHECK_EQ(diff, 0);
}

}  // namespace

TEST(ParseIPv4Prefixes) {
  ParsedPrefix p;
  CHECK(Parse("10.0.0.0/8", &p) == ParseStatus::kOk);
  CHECK(!p.v6);
  CHECK_EQ(p.addr4, 0x0a000000u);
  CHECK_EQ(int{p.len}, 8);
  CHECK(!p.host_bits);
  CHECK(Parse("10.1.2.3/8", &p) == ParseStatus::kOk);
  CHECK(p.host_bits);
  CHECK_EQ(p.addr4, 0x0a000000u);
  CHECK(Parse("0.0.0.0/0", &p) == ParseStatus::kOk);
  CHECK(Parse("255.255.255.255/32", &p) == ParseStatus::kOk);
  CHECK_EQ(p.addr4, 0xffffffffu);
  CHECK(Parse("1.2.3.4/33", &p) == ParseStatus::kLengthRange);
  CHECK(Parse("1.2.3/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1.2.3.4", &p) == ParseStatus::kMissingLength);
  CHECK(Parse("", &p) == ParseStatus::kEmpty);
  CHECK(Parse(" 1.2.3.4/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1.2.3.4/8 ", &p) == ParseStatus::kBadLength);
  CHECK(Parse("1.2.3.4 /8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1.2.3.4/ 8", &p) == ParseStatus::kBadLength);
  CHECK(Parse("1.2.3.4/08", &p) == ParseStatus::kBadLength);
  CHECK(Parse("1.2.3.4/+8", &p) == ParseStatus::kBadLength);
  CHECK(Parse("1.2.3.4/", &p) == ParseStatus::kBadLength);
  CHECK(Parse("/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("01.2.3.4/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("256.2.3.4/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1.2.3.4.5/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1..3.4/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1.2.3.4/8/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("0x1.2.3.4/8", &p) == ParseStatus::kBadAddress);
}

TEST(ParseIPv6Prefixes) {
  ParsedPrefix p;
  CHECK(Parse("2001:db8::/32", &p) == ParseStatus::kOk);
  CHECK(p.v6);
  CHECK(p.addr6 == Make6(0x20010db800000000ull, 0));
  CHECK(Parse("::/0", &p) == ParseStatus::kOk);
  CHECK(p.addr6 == 0);
  CHECK(Parse("::1/128", &p) == ParseStatus::kOk);
  CHECK(p.addr6 == 1);
  CHECK(Parse("1:2:3:4:5:6:7:8/128", &p) == ParseStatus::kOk);
  CHECK(p.addr6 == Make6(0x0001000200030004ull, 0x0005000600070008ull));
  CHECK(Parse("1:2:3:4:5:6:7::/112", &p) == ParseStatus::kOk);
  CHECK(Parse("::ffff:1.2.3.4/128", &p) == ParseStatus::kOk);
  CHECK(p.addr6 == Make6(0, 0x0000ffff01020304ull));
  CHECK(Parse("ABCD:EF01::/32", &p) == ParseStatus::kOk);
  CHECK(Parse("2001:db8::1/32", &p) == ParseStatus::kOk);
  CHECK(p.host_bits);
  CHECK(Parse("::g/8", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1::2::3/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse(":::/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse(":1::/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1::2:/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1:2:3:4:5:6:7:8:9/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1:2:3:4:5:6:7/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1:2:3:4:5:6:7:8::/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("12345::/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("fe80::1%eth0/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("[::1]/128", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("::1.2.3/96", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("1:2:3:4:5:6:7:1.2.3.4/64", &p) == ParseStatus::kBadAddress);
  CHECK(Parse("::/129", &p) == ParseStatus::kLengthRange);
  CHECK(Parse("::", &p) == ParseStatus::kMissingLength);
}

TEST(FormatRoundTrips) {
  using vpn::route::FormatIPv6;
  using vpn::route::ParseIPv6;
  CHECK_EQ(vpn::route::FormatIPv4(0x0a010203u), std::string("10.1.2.3"));
  CHECK_EQ(FormatIPv6(Make6(0x20010db800000000ull, 1)),
           std::string("2001:db8::1"));
  CHECK_EQ(FormatIPv6(0), std::string("::"));
  CHECK_EQ(FormatIPv6(1), std::string("::1"));
  CHECK_EQ(FormatIPv6(Make6(0x0001000000000000ull, 0x0000000100000000ull)),
           std::string("1::1:0:0"));
  CHECK_EQ(FormatIPv6(Make6(0x0001000000010000ull, 0x0000000000000001ull)),
           std::string("1:0:1::1"));
  std::mt19937_64 rng(7);
  int bad = 0;
  for (int i = 0; i < 20000; ++i) {
    u128 a = Make6(rng(), rng());
    if (rng() % 2) a &= Mask<u128>(static_cast<int>(rng() % 129));
    std::string s = FormatIPv6(a);
    u128 b;
    if (!ParseIPv6(s.data(), s.size(), &b) || a != b) ++bad;
  }
  CHECK_EQ(bad, 0);
}

TEST(PatriciaBasics) {
  vpn::route::Patricia<uint32_t> t;
  CHECK(t.Insert(0x0a000000u, 8, 1));
  CHECK(t.Insert(0x0a010000u, 16, 2));
  CHECK(!t.Insert(0x0a000000u, 8, 3));
  int32_t v = -1;
  CHECK_EQ(t.Match(0x0a010203u, &v), 16);
  CHECK_EQ(v, 2);
  CHECK_EQ(t.Match(0x0a020203u, &v), 8);
  CHECK_EQ(v, 3);
  CHECK(t.Erase(0x0a010000u, 16));
  CHECK(!t.Erase(0x0a010000u, 16));
  CHECK_EQ(t.Match(0x0a010203u, &v), 8);
  CHECK_EQ(t.size(), size_t{1});
}

TEST(LookupAfterInsertIsSynchronous) {
  RouteTable t;
  CHECK_EQ(t.Lookup4(0x0a010203u), -1);
  t.Insert4(0x0a000000u, 8, 1);
  CHECK_EQ(t.Lookup4(0x0a010203u), 1);
  t.Insert4(0x0a010200u, 24, 2);
  CHECK_EQ(t.Lookup4(0x0a010203u), 2);
  t.Insert4(0, 0, 7);
  CHECK_EQ(t.Lookup4(0x0b000000u), 7);
  CHECK_EQ(t.Lookup4(0x0a010203u), 2);
  t.Erase4(0x0a010200u, 24);
  CHECK_EQ(t.Lookup4(0x0a010203u), 1);
  t.Erase4(0x0a000000u, 8);
  CHECK_EQ(t.Lookup4(0x0a010203u), 7);
  t.Insert4(0x0a000000u, 8, 2147483647);
  CHECK_EQ(t.Lookup4(0x0a010203u), 2147483647);
  t.Insert6(Make6(0x20010db800000000ull, 0), 32, 2);
  CHECK_EQ(t.Lookup6(Make6(0x20010db800000000ull, 5)), 2);
  CHECK_EQ(t.Lookup6(Make6(0x20010db900000000ull, 5)), -1);
  CHECK_EQ(t.size(), size_t{3});
}

TEST(RootWithSixtyFourRuns) {
  // Distinct values in every /24 of a /18: the subtree root has 64 runs
  // plus its hidden leaf (a block of 65), patched one insert at a time.
  RouteTable t;
  for (uint32_t i = 0; i < 2000; ++i) {
    uint32_t k = (10u << 24) | ((i >> 8) << 16) | ((i & 255) << 8);
    t.Insert4(k, 24, static_cast<int32_t>(i));
    CHECK_EQ(t.Lookup4(k | 7), static_cast<int32_t>(i));
  }
  t.Insert4(0, 0, 7);
  CHECK_EQ(t.Lookup4(0xc0000201u), 7);
  CHECK_EQ(t.Lookup4(0x0a000501u), 5);
  t.Insert4(0x0a000000u, 16, 9);
  t.Erase4(0x0a000500u, 24);
  CHECK_EQ(t.Lookup4(0x0a000501u), 9);
  for (uint32_t i = 0; i < 2000; i += 3) {
    t.Erase4((10u << 24) | ((i >> 8) << 16) | ((i & 255) << 8), 24);
  }
  CHECK_EQ(t.Lookup4(0x0a000007u), 9);
  CHECK_EQ(t.Lookup4(0x0a000107u), 1);
  t.Erase4(0x0a000000u, 16);
  CHECK_EQ(t.Lookup4(0x0a000007u), 7);
}

TEST(RedundantPrefixesFollowTheirCover) {
  // More-specifics with their aggregate's value are left out of the lookup
  // structure; a change to the aggregate (short: top slots repainted; long:
  // its region rebuilt) must bring them back.
  for (int len : {8, 20}) {
    RouteTable t;
    std::string text = "10.0.0.0/" + std::to_string(len) +
                       "\n10.0.1.0/24\n10.0.1.128/25\n10.0.2.0/24";
    int32_t vals[4] = {5, 5, 5, 6};
    vpn::route::BulkResult r;
    vpn::route::BulkError e;
    CHECK(t.InsertMany(text.data(), text.size(), 4, vals, 4, 0, &r, &e));
    CHECK_EQ(t.Lookup4(0x0a000101u), 5);
    CHECK_EQ(t.Lookup4(0x0a000201u), 6);
    t.Insert4(0x0a000000u, len, 7);  // the aggregate changes
    CHECK_EQ(t.Lookup4(0x0a000101u), 5);
    CHECK_EQ(t.Lookup4(0x0a000181u), 5);
    CHECK_EQ(t.Lookup4(0x0a000301u), 7);
    t.Erase4(0x0a000000u, len);
    CHECK_EQ(t.Lookup4(0x0a000101u), 5);
    CHECK_EQ(t.Lookup4(0x0a000301u), -1);
    t.Erase4(0x0a000100u, 24);  // the /25 stays, alone
    CHECK_EQ(t.Lookup4(0x0a000181u), 5);
    CHECK_EQ(t.Lookup4(0x0a000101u), -1);
  }
  RouteTable t;
  std::string text = "2001:db8::/32\n2001:db8:1::/48\n2001:db8:1:1::/64";
  int32_t vals[3] = {1, 1, 1};
  vpn::route::BulkResult r;
  vpn::route::BulkError e;
  CHECK(t.InsertMany(text.data(), text.size(), 3, vals, 3, 0, &r, &e));
  u128 a = Make6(0x20010db800010001ull, 5);
  CHECK_EQ(t.Lookup6(a), 1);
  t.Insert6(Make6(0x20010db800000000ull, 0), 32, 2);
  CHECK_EQ(t.Lookup6(a), 1);
  CHECK_EQ(t.Lookup6(Make6(0x20010db800020000ull, 5)), 2);
  t.Insert6(0, 16, 3);  // a short prefix over all of it
  t.Erase6(Make6(0x20010db800000000ull, 0), 32);
  CHECK_EQ(t.Lookup6(a), 1);
  CHECK_EQ(t.Lookup6(Make6(0x20010db800020000ull, 5)), -1);
}

TEST(Differential4) {
  for (uint64_t seed = 1; seed <= 8; ++seed)
    Differential<uint32_t>(seed, 3000, 20);
}

TEST(Differential6) {
  for (uint64_t seed = 1; seed <= 8; ++seed) Differential<u128>(seed, 3000, 20);
}

TEST(Differential6WithJumpNodes) {
  for (uint64_t seed = 11; seed <= 16; ++seed) {
    Differential<u128>(seed, 3000, 20, 64);
  }
}

TEST(DeepSparseIPv6UsesPathCompression) {
  vpn::route::Family6 f;
  // Lone /128s far below their /32: each should cost ~1-2 nodes, not 19.
  f.Insert(Make6(0x20010db800000000ull, 0), 32, 1);
  std::mt19937_64 rng(3);
  std::vector<u128> hosts;
  for (int i = 0; i < 100; ++i) {
    u128 h = Make6(0x20010db800000000ull | (rng() & 0xffffffffull), rng());
    hosts.push_back(h);
    f.Insert(h, 128, 2);
  }
  f.Sync();
  for (u128 h : hosts) CHECK_EQ(f.Lookup(h), 2);
  CHECK_EQ(f.Lookup(hosts[0] ^ 1), 1);
  CHECK(f.fib.node_count() < 100 * 4);
}

TEST(DenseIPv6PoolsUseJumpNodes) {
  // Two /32 pools, one /48 in most of their first 40000 slots (the way RIRs
  // hand out PI space), longer prefixes inside some, a few /29s around:
  // dense enough for jump nodes at the default density. Then patches.
  std::mt19937_64 rng(21);
  Naive<u128> ref;
  vpn::route::Family6 f;
  std::vector<std::pair<u128, int>> all;
  auto add = [&](u128 k, int len, int32_t v) {
    k &= Mask<u128>(len);
    ref.Insert(k, len, v);
    f.Insert(k, len, v);
    all.push_back({k, len});
  };
  const uint64_t pools[2] = {0x2a0a000000000000ull, 0x2a0b000100000000ull};
  for (uint64_t pool : pools) {
    for (uint64_t i = 0; i < 40000; ++i) {
      if (rng() % 4 == 0) continue;
      u128 k = Make6(pool | (i << 16), 0);
      add(k, 48, static_cast<int32_t>(rng() % 50));
      if (rng() % 16 == 0) {
        int len = 49 + static_cast<int>(rng() % 80);
        add(k | Make6(rng() & 0xffff, rng()), len, 7);
      }
    }
    add(Make6(pool, 0), 32, 1);
    add(Make6(pool ^ (uint64_t{1} << 35), 0), 29, 2);
  }
  f.Sync();
  CHECK(f.fib.jump_count() > 0);
  auto probe = [&]() {
    auto [k, len] = all[rng() % all.size()];
    u128 noise = Make6(rng(), rng());
    int keep = rng() % 3 == 0 ? static_cast<int>(rng() % 129) : len;
    return (k & Mask<u128>(keep)) | (noise & ~Mask<u128>(keep));
  };
  int bad = 0;
  std::vector<u128> keys(4096);
  std::vector<int32_t> out(keys.size());
  auto check = [&]() {
    for (auto& k : keys) k = probe();
    f.Sync();
    f.fib.LookupBatch(keys.data(), out.data(), keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      int32_t want = ref.Lookup(keys[i]);
      bad += out[i] != want;
      bad += f.Lookup(keys[i]) != want;
    }
  };
  check();
  // Patches inside the jump nodes' regions: prefixes that end inside a
  // stride (a few children rebuilt, or the node), /48s added and removed.
  for (int op = 0; op < 3000; ++op) {
    uint64_t pool = pools[rng() % 2];
    int kind = static_cast<int>(rng() % 6);
    if (kind == 0) {
      int len = 33 + static_cast<int>(rng() % 15);
      add(Make6(pool | ((rng() % 40000) << 16), 0), len,
          static_cast<int32_t>(rng() % 50));
    } else if (kind <= 2) {
      add(Make6(pool | ((rng() % 40000) << 16), 0), 48,
          static_cast<int32_t>(rng() % 50));
    } else {
      size_t at = rng() % all.size();
      auto [k, len] = all[at];
      all[at] = all.back();
      all.pop_back();
      bool a = ref.Erase(k, len);
      bool b = f.Erase(k, len);
      bad += a != b;
    }
    if (op % 50 == 0) {
      u128 k = probe();
      f.Sync();
      bad += f.Lookup(k) != ref.Lookup(k);
    }
  }
  check();
  CHECK(f.fib.jump_count() > 0);
  CHECK_EQ(bad, 0);
  CHECK_EQ(f.size(), ref.m.size());
}

TEST(BulkLoadMatchesSingleInserts) {
  std::mt19937_64 rng(11);
  std::string text;
  std::vector<int32_t> values;
  Naive<uint32_t> ref4;
  Naive<u128> ref6;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    int32_t v = static_cast<int32_t>(rng() % 1000);
    std::string s;
    if (rng() % 4 == 0) {
      int len = static_cast<int>(rng() % 129);
      u128 k = Make6(0x2000000000000000ull | (rng() >> 36), rng());
      k &= Mask<u128>(len);
      s = vpn::route::FormatPrefix6(k, len);
      ref6.Insert(k, len, v);
    } else {
      int len = 8 + static_cast<int>(rng() % 25);
      uint32_t k = static_cast<uint32_t>(rng()) & Mask<uint32_t>(len);
      if (i % 100 == 0) k |= 1;  // host bits: masked, reported
      s = vpn::route::FormatIPv4(k) + "/" + std::to_string(len);
      ref4.Insert(k, len, v);
    }
    if (!text.empty()) text += '\n';
    text += s;
    values.push_back(v);
  }
  RouteTable t;
  vpn::route::BulkResult r;
  vpn::route::BulkError e;
  CHECK(t.InsertMany(text.data(), text.size(), n, values.data(), n, 0, &r, &e));
  CHECK_EQ(t.size(), ref4.m.size() + ref6.m.size());
  CHECK_EQ(r.added, t.size());
  CHECK(r.masked > 0);
  int bad = 0;
  for (int i = 0; i < 200000; ++i) {
    uint32_t a = static_cast<uint32_t>(rng());
    if (t.Lookup4(a) != ref4.Lookup(a)) ++bad;
    u128 b = Make6(0x2000000000000000ull | (rng() >> 36), rng());
    if (t.Lookup6(b) != ref6.Lookup(b)) ++bad;
  }
  CHECK_EQ(bad, 0);
  // A second bulk load merges (rebuild path), then a small one (patch path).
  std::string more = "0.0.0.0/0\n10.0.0.0/8\n10.0.0.0/8";
  int32_t vals[3] = {5, 6, 7};
  CHECK(t.InsertMany(more.data(), more.size(), 3, vals, 3, 0, &r, &e));
  CHECK_EQ(r.replaced + r.added, size_t{3});
  ref4.Insert(0, 0, 5);
  ref4.Insert(0x0a000000u, 8, 7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t a = static_cast<uint32_t>(rng());
    if (i % 2) a = 0x0a000000u | (a & 0xffffffu);
    if (t.Lookup4(a) != ref4.Lookup(a)) ++bad;
  }
  CHECK_EQ(bad, 0);
  int32_t v = -1;
  CHECK(t.Get4(0x0a000000u, 8, &v));
  CHECK_EQ(v, 7);
}

TEST(BulkLoadErrors) {
  RouteTable t;
  vpn::route::BulkResult r;
  vpn::route::BulkError e;
  std::string text = "10.0.0.0/8\n1.2.3.4/33\n::/0";
  CHECK(!t.InsertMany(text.data(), text.size(), 3, nullptr, 0, 1, &r, &e));
  CHECK(e.kind == vpn::route::BulkError::kParse);
  CHECK_EQ(e.index, size_t{1});
  CHECK(e.status == ParseStatus::kLengthRange);
  CHECK_EQ(e.entry, std::string("1.2.3.4/33"));
  CHECK_EQ(t.size(), size_t{0});  // all or nothing
  text = "10.0.0.0/8\n\n::/0";
  CHECK(!t.InsertMany(text.data(), text.size(), 3, nullptr, 0, 1, &r, &e));
  CHECK(e.status == ParseStatus::kEmpty);
  text = "10.0.0.0/8\n11.0.0.0/8";
  CHECK(!t.InsertMany(text.data(), text.size(), 1, nullptr, 0, 1, &r, &e));
  CHECK(e.kind == vpn::route::BulkError::kCount);
  CHECK(!t.InsertMany(text.data(), text.size(), 3, nullptr, 0, 1, &r, &e));
  CHECK(e.kind == vpn::route::BulkError::kCount);
  CHECK(t.InsertMany("", 0, 0, nullptr, 0, 1, &r, &e));
}

TEST(BulkLoadInTwoHalves) {
  // Long enough to be parsed in two halves and built on two threads: the
  // entries' indexes (errors, masked entries, values) run on across the
  // split.
  const size_t n = 200000;
  std::string text;
  std::vector<int32_t> values;
  for (size_t i = 0; i < n; ++i) {
    uint32_t k = static_cast<uint32_t>(0x01000000u + (i << 8));
    if (i % 50000 == 7) k |= 1;  // masked
    if (!text.empty()) text += '\n';
    text += vpn::route::FormatIPv4(k) + "/24";
    values.push_back(static_cast<int32_t>(i));
  }
  RouteTable t;
  vpn::route::BulkResult r;
  vpn::route::BulkError e;
  CHECK(t.InsertMany(text.data(), text.size(), n, values.data(), n, 0, &r, &e));
  CHECK_EQ(t.size(), n);
  CHECK_EQ(r.masked, size_t{4});
  CHECK_EQ(r.masked_index.size(), size_t{4});
  CHECK_EQ(r.masked_index[3], size_t{150007});
  CHECK_EQ(r.masked_text[3], vpn::route::FormatIPv4(static_cast<uint32_t>(
                                 0x01000000u + (150007u << 8) + 1)) +
                                 "/24");
  int bad = 0;
  for (size_t i = 0; i < n; i += 7) {
    bad += t.Lookup4(static_cast<uint32_t>(0x01000000u + (i << 8) + 9)) !=
           static_cast<int32_t>(i);
  }
  CHECK_EQ(bad, 0);
  // Counted lines, with a final newline; values one per line.
  RouteTable u;
  std::string with_nl = text + "\n";
  CHECK(u.InsertMany(with_nl.data(), with_nl.size(), RouteTable::kCountLines,
                     values.data(), n, 0, &r, &e));
  CHECK_EQ(r.count, n);
  CHECK_EQ(u.Lookup4(0x01000000u + (123456u << 8)), 123456);
  CHECK(!u.InsertMany(with_nl.data(), with_nl.size(), RouteTable::kCountLines,
                      values.data(), n - 1, 0, &r, &e));
  CHECK(e.kind == vpn::route::BulkError::kValueCount);
  CHECK_EQ(e.index, n - 1);
  CHECK_EQ(e.lines, n);
  // An error in the second half names its entry.
  std::string broken = text;
  size_t at = broken.find("\n", broken.size() * 3 / 4);
  broken.insert(at + 1, "x");
  RouteTable v;
  CHECK(!v.InsertMany(broken.data(), broken.size(), n, values.data(), n, 0, &r,
                      &e));
  CHECK(e.kind == vpn::route::BulkError::kParse);
  size_t want = static_cast<size_t>(
      std::count(broken.begin(), broken.begin() + static_cast<long>(at), '\n') +
      1);
  CHECK_EQ(e.index, want);
  CHECK_EQ(v.size(), size_t{0});
  // One line too many or too few for the count.
  CHECK(!v.InsertMany(text.data(), text.size(), n + 1, nullptr, 0, 1, &r, &e));
  CHECK(e.kind == vpn::route::BulkError::kCount);
}

TEST(RebuildsOffTheCallingThread) {
  // A big table whose owner allows rebuilds elsewhere: a burst of changes
  // makes lookups answer from the control plane until the new lookup
  // structure, built from a snapshot (here on a std::thread), is handed
  // in; changes made meanwhile are applied after it.
  std::mt19937_64 rng(31);
  RouteTable t;
  t.set_defer_rebuilds(true);
  Naive<uint32_t> ref4;
  Naive<u128> ref6;
  std::string text;
  std::vector<int32_t> values;
  for (uint32_t i = 0; i < 100000; ++i) {
    uint32_t k = 0x20000000u + (i << 8);
    int32_t v = static_cast<int32_t>(rng() % 1000);
    text += vpn::route::FormatIPv4(k) + "/24\n";
    values.push_back(v);
    ref4.Insert(k, 24, v);
  }
  for (uint64_t i = 0; i < 70000; ++i) {
    u128 k = Make6(0x2a0a000000000000ull | (i << 16), 0);
    int32_t v = static_cast<int32_t>(rng() % 1000);
    text += vpn::route::FormatPrefix6(k, 48) + "\n";
    values.push_back(v);
    ref6.Insert(k, 48, v);
  }
  vpn::route::BulkResult r;
  vpn::route::BulkError e;
  CHECK(t.InsertMany(text.data(), text.size(), RouteTable::kCountLines,
                     values.data(), values.size(), 0, &r, &e));
  int bad = 0;
  auto check = [&]() {
    std::vector<uint32_t> a4(512);
    std::vector<uint8_t> a6(16 * 512);
    std::vector<int32_t> out(512);
    for (size_t i = 0; i < a4.size(); ++i) {
      a4[i] = 0x20000000u + static_cast<uint32_t>(rng() % (110000u << 8));
      vpn::route::Store6(
          Make6(0x2a0a000000000000ull | ((rng() % 80000) << 16), rng()),
          &a6[16 * i]);
    }
    t.LookupBatch4(a4.data(), out.data(), a4.size());
    for (size_t i = 0; i < a4.size(); ++i) {
      bad += out[i] != ref4.Lookup(a4[i]);
      bad += t.Lookup4(a4[i]) != ref4.Lookup(a4[i]);
    }
    t.LookupBatch6(a6.data(), out.data(), 512);
    for (size_t i = 0; i < 512; ++i) {
      bad += out[i] != ref6.Lookup(vpn::route::Load6(&a6[16 * i]));
    }
  };
  auto burst = [&](int n, uint32_t at) {
    for (int i = 0; i < n; ++i) {
      uint32_t k = 0x20000000u + ((at + static_cast<uint32_t>(i)) << 8);
      int32_t v = static_cast<int32_t>(rng() % 1000);
      t.Insert4(k, 24, v);
      ref4.Insert(k, 24, v);
    }
  };
  check();
  CHECK(!t.rebuilding());
  CHECK(t.TakeRebuild() == nullptr);
  burst(5000, 100000);  // over 1/32 of the IPv4 family
  check();              // answered from the control plane
  CHECK(t.rebuilding());
  auto job = t.TakeRebuild();
  CHECK(job != nullptr);
  CHECK(t.TakeRebuild() == nullptr);  // one snapshot per rebuild
  burst(100, 50);                     // after the snapshot
  std::thread worker([&] { job->Run(); });
  check();
  worker.join();
  t.FinishRebuild(job.get());
  CHECK(!t.rebuilding());
  check();  // the new structure, with the 100 changes patched in
  // A burst during the rebuild: another one is wanted after it.
  burst(5000, 1000);
  check();
  job = t.TakeRebuild();
  CHECK(job != nullptr);
  burst(5000, 20000);
  job->Run();
  t.FinishRebuild(job.get());
  CHECK(t.rebuilding());
  job = t.TakeRebuild();
  CHECK(job != nullptr);
  job->Run();
  t.FinishRebuild(job.get());
  CHECK(!t.rebuilding());
  check();
  // Contents replaced while a rebuild is under way: its result is dropped.
  burst(5000, 40000);
  check();
  job = t.TakeRebuild();
  job->Run();
  std::string more;
  std::vector<int32_t> mv;
  for (uint32_t i = 0; i < 20000; ++i) {
    uint32_t k = 0x30000000u + (i << 8);
    more += vpn::route::FormatIPv4(k) + "/24\n";
    mv.push_back(7);
    ref4.Insert(k, 24, 7);
  }
  CHECK(t.InsertMany(more.data(), more.size(), RouteTable::kCountLines,
                     mv.data(), mv.size(), 0, &r, &e));
  t.FinishRebuild(job.get());
  CHECK(!t.rebuilding());
  check();
  CHECK_EQ(t.Lookup4(0x30000105u), 7);
  CHECK_EQ(bad, 0);
}

TEST(ClassifyPackets) {
  RouteTable t;
  t.Insert4(0x0a000000u, 8, 1);
  t.Insert6(Make6(0x20010db800000000ull, 0), 32, 2);
  std::vector<uint8_t> data(200, 0);
  // v4 packet at 0 (dst 10.1.2.3), v6 at 20 (dst 2001:db8::1), v4 miss at
  // 60, too-short v4 at 80, version 5 at 100, v6 too short at 120.
  data[0] = 0x45;
  data[16] = 10, data[17] = 1, data[18] = 2, data[19] = 3;
  data[20] = 0x60;
  data[44] = 0x20, data[45] = 0x01, data[46] = 0x0d, data[47] = 0xb8;
  data[59] = 1;
  data[60] = 0x45;
  data[76] = 11;
  data[80] = 0x45;
  data[100] = 0x50;
  data[120] = 0x60;
  int32_t meta[] = {0, 20, 20, 40, 60, 20, 80, 19, 100, 40, 120, 39};
  int32_t out[6];
  CHECK_EQ(t.Classify(data.data(), data.size(), meta, 6, out), ptrdiff_t{-1});
  CHECK_EQ(out[0], 1);
  CHECK_EQ(out[1], 2);
  CHECK_EQ(out[2], -1);
  CHECK_EQ(out[3], -2);
  CHECK_EQ(out[4], -2);
  CHECK_EQ(out[5], -2);
  int32_t bad[] = {0, 20, 190, 20};
  CHECK_EQ(t.Classify(data.data(), data.size(), bad, 2, out), ptrdiff_t{1});
  int32_t neg[] = {-1, 20};
  CHECK_EQ(t.Classify(data.data(), data.size(), neg, 1, out), ptrdiff_t{0});
}

TEST(BatchMatchesSingle) {
  RouteTable t;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50000; ++i) {
    int len = static_cast<int>(rng() % 33);
    t.Insert4(static_cast<uint32_t>(rng()) & Mask<uint32_t>(len), len,
              static_cast<int32_t>(rng() % 100));
    int len6 = static_cast<int>(rng() % 129);
    u128 k6 = Make6(0x2001000000000000ull | (rng() >> 40), rng());
    t.Insert6(k6 & Mask<u128>(len6), len6, static_cast<int32_t>(rng() % 100));
  }
  std::vector<uint32_t> a(1000);
  std::vector<uint8_t> b(16 * 1000);
  for (auto& x : a) x = static_cast<uint32_t>(rng());
  for (size_t i = 0; i < 1000; ++i) {
    vpn::route::Store6(Make6(0x2001000000000000ull | (rng() >> 40), rng()),
                       &b[16 * i]);
  }
  std::vector<int32_t> out(1000);
  t.LookupBatch4(a.data(), out.data(), a.size());
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i) bad += out[i] != t.Lookup4(a[i]);
  t.LookupBatch6(b.data(), out.data(), 1000);
  for (size_t i = 0; i < 1000; ++i) {
    bad += out[i] != t.Lookup6(vpn::route::Load6(&b[16 * i]));
  }
  CHECK_EQ(bad, 0);
}

// Leaves take 2, 3 or 4 bytes as the values need (leaves.h); the edges of
// each width (0xffff and 0xffffff are the all-ones patterns, so those
// values need the next width) read back exactly, from a full build and
// from patches that widen a built structure.
TEST(LeafWidthFollowsTheValues) {
  struct Case {
    int32_t max;
    unsigned width;
  };
  for (Case c : {Case{0, 2}, Case{0xfffe, 2}, Case{0xffff, 3},
                 Case{0xfffffe, 3}, Case{0xffffff, 4}, Case{0x7fffffff, 4}}) {
    std::vector<Entry<uint32_t>> es;
    Naive<uint32_t> ref;
    for (uint32_t i = 0; i < 4096; ++i) {
      // /24s side by side, one /20 over some, values up to c.max.
      int32_t v = static_cast<int32_t>(c.max - (i % 3));
      if (v < 0) v = static_cast<int32_t>(i % 7);
      es.push_back({0xc6120000u + (i << 8), v, 24});
      ref.Insert(0xc6120000u + (i << 8), 24, v);
    }
    vpn::route::Family<uint32_t, 18, false> fam;
    auto copy = es;
    fam.Assign(&copy);
    fam.Sync();
    CHECK_EQ(fam.fib.leaf_width(), c.width);
    int bad = 0;
    for (uint32_t i = 0; i < 4096 * 256; i += 97) {
      bad += fam.Lookup(0xc6120000u + i) != ref.Lookup(0xc6120000u + i);
    }
    // Patches with ever wider values: each width holds what it held.
    for (int32_t v : {0xfffe, 0xffff, 0xfffffe, 0xffffff, 0x7fffffff}) {
      uint32_t k = 0xc6120000u + (static_cast<uint32_t>(v % 4096) << 8);
      fam.Insert(k | 0x80, 25, v);
      ref.Insert(k | 0x80, 25, v);
      fam.Sync();
      CHECK(fam.fib.leaf_width() >= vpn::route::Leaves::WidthFor(v));
      for (uint32_t i = 0; i < 4096 * 256; i += 97) {
        bad += fam.Lookup(0xc6120000u + i) != ref.Lookup(0xc6120000u + i);
      }
      bad += fam.Lookup(k | 0x81) != v;
    }
    CHECK_EQ(fam.fib.leaf_width(), 4u);
    CHECK_EQ(bad, 0);
  }
}

// IPv4 roots whose prefixes all end in their first stride are LeafRoots
// (poptrie.h); patches turn a root from one kind to the other and a short
// prefix repaints the value they fall back to. Every step agrees with the
// reference, single and batched, small table and past kLargeBytes.
TEST(LeafRootsFollowPatches) {
  for (int big : {0, 1}) {
    vpn::route::Family<uint32_t, 18, false> fam;
    Naive<uint32_t> ref;
    std::mt19937_64 rng(21);
    auto put = [&](uint32_t k, int len, int32_t v) {
      fam.Insert(k, len, v);
      ref.Insert(k, len, v);
    };
    auto drop = [&](uint32_t k, int len) {
      CHECK(fam.Erase(k, len));
      CHECK(ref.Erase(k, len));
    };
    int bad = 0;
    std::vector<uint32_t> keys;
    std::vector<int32_t> out;
    auto check = [&] {
      fam.Sync();
      keys.clear();
      for (uint32_t i = 0; i < 4096; ++i) {
        keys.push_back(0xc6120000u + (i << 6) +
                       (static_cast<uint32_t>(rng()) & 63));
      }
      for (int i = 0; i < 2048; ++i)
        keys.push_back(static_cast<uint32_t>(rng()));
      out.assign(keys.size(), 0);
      fam.fib.LookupBatch(keys.data(), out.data(), keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        int32_t want = ref.Lookup(keys[i]);
        bad += out[i] != want;
        bad += fam.Lookup(keys[i]) != want;
      }
    };
    if (big) {
      // 400k scattered /24s with a value each: past kLargeBytes, so the
      // batches take the deferred path.
      std::vector<Entry<uint32_t>> es;
      for (int32_t i = 0; i < 400000; ++i) {
        uint32_t k = static_cast<uint32_t>(rng()) & 0xffffff00u;
        if ((k >> 16) == 0xc612) continue;
        put(k, 24, i);
      }
    }
    // 198.18.0.0/18 (one top slot) with /24s: a LeafRoot.
    for (uint32_t i = 0; i < 64; i += 3)
      put(0xc6120000u + (i << 8), 24, 1000 + static_cast<int32_t>(i));
    check();
    const size_t built = fam.fib.bytes();
    const size_t leaf_roots = fam.fib.leaf_root_count();
    CHECK(leaf_roots >= 1);
    // A /28 inside: the root gets a child, a node again.
    put(0xc6120310u, 28, 7);
    check();
    CHECK_EQ(fam.fib.leaf_root_count(), leaf_roots - 1);
    // A /16 over it all: the value under the /24s' gaps, in both kinds.
    put(0xc6120000u, 16, 5);
    check();
    drop(0xc6120310u, 28);
    check();
    CHECK_EQ(fam.fib.leaf_root_count(), leaf_roots);
    put(0xc6120000u, 16, 6);
    check();
    drop(0xc6120000u, 16);
    check();
    // Emptied: the slot holds no root at all.
    for (uint32_t i = 0; i < 64; i += 3) drop(0xc6120000u + (i << 8), 24);
    check();
    CHECK_EQ(fam.fib.leaf_root_count(), leaf_roots - 1);
    if (big) {
      // Patches do not double the arrays of a table built to size, and a
      // value that widens the leaves (3 -> 4 bytes) costs about a third of
      // them, not a doubling.
      CHECK(fam.fib.bytes() < built + built / 8);
      put(0xc6130000u, 24, 0x7fffffff);
      check();
      CHECK_EQ(fam.fib.leaf_width(), 4u);
      CHECK(fam.fib.bytes() < built + built / 2);
    }
    CHECK_EQ(bad, 0);
  }
}

// A table past the size where batches defer their leaf reads (a server's
// table: scattered prefixes, a value each): the batch path agrees with the
// single lookup and with the naive reference, in both families.
TEST(LargeTableBatchesMatchSingle) {
  RouteTable t;
  Naive<uint32_t> ref4;
  std::mt19937_64 rng(11);
  std::vector<std::pair<uint32_t, int>> in4;
  for (int i = 0; i < 600000; ++i) {
    int len = 16 + static_cast<int>(rng() % 17);
    uint32_t k = static_cast<uint32_t>(rng()) & Mask<uint32_t>(len);
    int32_t v = i;  // every prefix its own value
    t.Insert4(k, len, v);
    ref4.Insert(k, len, v);
    in4.push_back({k, len});
  }
  for (int i = 0; i < 300000; ++i) {
    int len = 20 + static_cast<int>(rng() % 45);
    u128 k =
        Make6(0x2001000000000000ull | (rng() >> 20), rng()) & Mask<u128>(len);
    t.Insert6(k, len, i);
  }
  // Both past kLargeBytes (1 MiB besides the 1 MiB top level): the
  // deferred path runs.
  t.Sync();  // builds the lookup structures
  CHECK(t.lookup_bytes4() > (size_t{3} << 20));
  CHECK(t.lookup_bytes6() > (size_t{3} << 20));
  const size_t n = 100000;
  std::vector<uint32_t> a(n);
  for (size_t i = 0; i < n; ++i) {
    // Half inside a prefix of the table, half anywhere.
    auto [k, len] = in4[rng() % in4.size()];
    uint32_t r = static_cast<uint32_t>(rng());
    a[i] = i % 2 ? r : (k | (r & ~Mask<uint32_t>(len)));
  }
  std::vector<uint8_t> b(16 * n);
  for (size_t i = 0; i < n; ++i) {
    vpn::route::Store6(Make6(0x2001000000000000ull | (rng() >> 20), rng()),
                       &b[16 * i]);
  }
  std::vector<int32_t> want(n), out(n);
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    want[i] = ref4.Lookup(a[i]);
    bad += t.Lookup4(a[i]) != want[i];
  }
  for (size_t chunk : {size_t{256}, size_t{33}, n}) {
    for (size_t at = 0; at < n; at += chunk) {
      size_t m = std::min(chunk, n - at);
      t.LookupBatch4(a.data() + at, out.data() + at, m);
    }
    for (size_t i = 0; i < n; ++i) bad += out[i] != want[i];
    t.LookupBatch6(b.data(), out.data(), n);
    for (size_t i = 0; i < n; ++i) {
      bad += out[i] != t.Lookup6(vpn::route::Load6(&b[16 * i]));
    }
  }
  CHECK_EQ(bad, 0);
}

TEST_MAIN()
