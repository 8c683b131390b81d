// The lookup structure of the route table: a Poptrie (Asai and Ohara,
// SIGCOMM 2015), written from the paper's description.
//
//  - A direct-indexed top level of 2^S slots of 4 bytes (S = 18, 1 MiB, for
//    both IPv4 and IPv6). A slot holds the value of the longest prefix of
//    length
//    <= S that covers it or, when longer prefixes exist, the index of a
//    subtree root, which then keeps that value in a hidden leaf.
//  - Subtrees of 64-ary nodes, one 6-bit stride each. A node has two 64-bit
//    vectors: `vector` marks the slots that are internal (a child node) and
//    `leafvec` the slots where a new run of equal leaves begins, so that a
//    run of equal leaves is stored once. Children and leaves of a node are
//    contiguous and found with popcount:
//        child = base1 + popcount(vector & below(slot))
//        leaf  = base0 + popcount(leafvec & upto(slot)) - 1
//  - Leaves hold the value of the longest prefix longer than S that covers
//    them, or -1: "no such prefix, use the top slot's value". That way a
//    short prefix (even 0.0.0.0/0) changes only top slots (and the hidden
//    leaves of roots), never a subtree.
//  - Leaves are 2, 3 or 4 bytes, as narrow as the values allow (leaves.h).
//  - IPv4: a root with no children (all its prefixes end within its first
//    stride, as /19../24 do under an 18-bit top) is a LeafRoot of 16 bytes,
//    its leafvec, base0 and top slot value, in an array of its own, instead
//    of a 24-byte node and a hidden leaf. Such roots are most of a
//    BGP-like table's (175k of 189k on 1M scattered prefixes).
//  - For IPv6 (PC = true) a node can skip strides: when every prefix below a
//    node shares the next 6k bits (k <= 4) and none ends there, the k
//    single-child nodes are replaced by a compare of those bits; a mismatch
//    means the node's inherited value (`fail`). A /128 alone in its /48
//    thus costs 3 nodes instead of 14, a lone /64 1 instead of 3.
//
// Built in full from a sorted list (Build), or patched in place after one
// control-plane change (Update): the smallest subtree whose shape can have
// changed is rebuilt from the control plane, its old arrays go to free lists
// of exact sizes, which later builds of the same sizes reuse.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "route/huge_alloc.h"
#include "route/ip.h"
#include "route/leaves.h"
#include "route/patricia.h"

// Lookups are popcounts. Baseline x86-64 has no POPCNT instruction, and the
// release build (binding.gyp) sets no -march, so without this the compiler
// calls a libgcc routine for each popcount (3x slower lookups). The addon
// checks the CPU once (route::CpuSupported) and refuses to make a table on
// an x86-64 CPU without POPCNT (all since 2008 have it).
#if defined(__x86_64__) && !defined(__POPCNT__)
#define VPN_ROUTE_POPCNT_PRAGMA 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("popcnt"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("popcnt")
#endif
#endif

namespace vpn {
namespace route {

template <typename K, int S, bool PC>
class Poptrie {
 public:
  static constexpr int W = sizeof(K) * 8;
  // Path compression, jump nodes and the 64-bit lane cursors with their
  // kDeep escape are written for IPv6, plain 64-ary nodes for IPv4.
  static_assert(PC == (W == 128), "PC for IPv6 keys only");
  static constexpr int kTopBits = S;

  // A top slot is an int32_t: >= 0 the value of the longest prefix of
  // length <= S covering the slot, -1 none, <= -2 the subtree root -2 - e.
  // A root keeps that short value in a hidden leaf just before its leaves,
  // leaves_[base0 - 1], read only when its subtree has no match.
  // For IPv4 the low bit of -2 - e tells a LeafRoot (1) from a node (0).
  using Top = int32_t;
  static constexpr int kTagBits = PC ? 0 : 1;
  static bool IsRoot(Top e) { return e <= -2; }
  static bool IsLeafRoot(Top e) {
    return !PC && e <= -2 && ((-2 - e) & 1) != 0;
  }
  static uint32_t RootOf(Top e) {
    return static_cast<uint32_t>(-2 - e) >> kTagBits;
  }
  static Top TopOf(uint32_t root) {
    return -2 - static_cast<int32_t>(root << kTagBits);
  }
  static Top TopOfLeafRoot(uint32_t i) {
    return -2 - static_cast<int32_t>((i << 1) | 1);
  }
  // An IPv4 root without children: its runs at leaves_[base0..], and the
  // top slot's value (what a node keeps in its hidden leaf).
  struct LeafRoot {
    uint64_t leafvec;
    uint32_t base0;
    int32_t short_value;
  };
  struct NodeBase {
    uint64_t vector;
    uint64_t leafvec;
    uint32_t base0;
    uint32_t base1;
  };
  // 32 bytes, so that a node never straddles two cache lines.
  struct NodePC {
    uint64_t vector;  // a jump node: all ones
    uint64_t leafvec;
    uint32_t base0;
    uint32_t base1;
    // Bits 0..23: the value of the bits compared before the stride (path
    // compression), 24..28: how many (0..kMaxSkip), 29..31: the kind: 0 a
    // 64-ary node, 1..6 a jump node of stride 6 + 2 * kind, kDeep a 64-ary
    // node that reads key bits past bit 64 (see LookupLanes). 0 for a
    // 64-ary node without skipped bits, the common case.
    uint32_t skip;
    int32_t fail;  // the result when they differ (-1: the top slot's value)
  };
  static constexpr int kMaxSkip = 24;

  // Jump nodes (IPv6 only): where the region below a node is dense, its
  // next w bits (w = 8, 10, ..., 18) index a block of 2^w child nodes directly,
  // with no bitmap: one visit resolves w bits (plus the child's 6) instead
  // of 6. Chosen when at least 1/jump_density of the 2^w children would
  // have prefixes below them (the other children are one-leaf nodes).
  static constexpr int kMinJump = 8;
  static constexpr int kMaxJump = 18;
  using Node = typename std::conditional<PC, NodePC, NodeBase>::type;

  Poptrie() { Reset(); }

  // Back to empty, with no memory held (an empty table costs nothing; the
  // top level, 2^S slots of 4 bytes, is allocated by the first prefix).
  void Reset() {
    Vec<Top>().swap(top_);
    Vec<Node>().swap(nodes_);
    Vec<LeafRoot>().swap(leaf_roots_);
    leaves_.Release();
    ForgetFree();
  }

  bool allocated() const { return !top_.empty(); }

  // Empty, with the top level allocated and leaves as narrow as values up
  // to max allow (they widen when a patch brings a larger one).
  void Clear(int32_t max = 0) {
    top_.assign(size_t{1} << S, Top{-1});
    nodes_.assign(1, Node{});
    Vec<LeafRoot>().swap(leaf_roots_);
    leaves_.Assign(1, 0, max);
    ForgetFree();
  }

  size_t bytes() const {
    return top_.capacity() * sizeof(Top) + nodes_.capacity() * sizeof(Node) +
           leaf_roots_.capacity() * sizeof(LeafRoot) + leaves_.capacity_bytes();
  }
  // Bytes held in free lists (left by patches, reused by later ones).
  size_t free_bytes() const {
    return free_node_slots_ * sizeof(Node) +
           free_leaf_roots_.size() * sizeof(LeafRoot) +
           free_leaf_slots_ * leaves_.width();
  }
  // Nodes in use, LeafRoots included.
  size_t node_count() const {
    return (nodes_.empty() ? 0 : nodes_.size() - 1 - free_node_slots_) +
           leaf_root_count();
  }
  // LeafRoots in use (IPv4 roots without children).
  size_t leaf_root_count() const {
    return leaf_roots_.size() - free_leaf_roots_.size();
  }
  // Bytes per leaf: 2, 3 or 4 (see leaves.h).
  unsigned leaf_width() const { return leaves_.width(); }
  size_t leaf_count() const {
    return leaves_.empty() ? 0 : leaves_.size() - 1 - free_leaf_slots_;
  }
  // Jump nodes in use (for tests and benchmarks).
  size_t jump_count() const {
    size_t n = 0;
    for (size_t i = 1; i < nodes_.size(); ++i) n += IsJump(nodes_[i]);
    return n;
  }

  // A jump node is made when at least 2^w / density of its children would
  // have prefixes below them; 0 turns jump nodes off. Tests set a high
  // density so that small tables get jump nodes too.
  void set_jump_density(unsigned density) { jump_density_ = density; }
  unsigned jump_density() const { return jump_density_; }

  // Builds from entries sorted by (key, length), without duplicates. The
  // buffer is used as scratch space and left in an unspecified order.
  void Build(Entry<K>* e, size_t n) {
    int32_t max = 0;
    for (size_t i = 0; i < n; ++i) max = e[i].value > max ? e[i].value : max;
    Clear(max);
    n = DropRedundant(e, n, -1);
    size_t w = 0;
    for (size_t i = 0; i < n; ++i) {
      if (e[i].len <= S) {
        PaintTop(e[i].key, e[i].len, e[i].value);
      } else {
        e[w++] = e[i];
      }
    }
    // Rough sizes, so that the vectors grow once or twice.
    nodes_.reserve(w / 2 + 16);
    if (!PC) leaf_roots_.reserve(w < top_.size() ? w : top_.size());
    leaves_.Reserve(w * 2 + 16);
    size_t i = 0;
    while (i < w) {
      uint64_t slot = Bits(e[i].key, 0, S);
      size_t j = i + 1;
      while (j < w && Bits(e[j].key, 0, S) == slot) ++j;
      top_[slot] = BuildRoot(e + i, j - i, top_[slot]);
      i = j;
    }
    nodes_.shrink_to_fit();
    leaf_roots_.shrink_to_fit();
    leaves_.ShrinkToFit();
  }

  // Brings the structure in line with `cp` after the prefix key/len was
  // inserted, replaced or erased there.
  void Update(const Patricia<K>& cp, K key, int len) {
    if (!allocated()) Clear();
    if (len <= S) {
      UpdateShort(cp, key, len);
      return;
    }
    uint64_t slot = Bits(key, 0, S);
    if (IsLeafRoot(top_[slot])) {
      // A few prefixes within one stride: rebuilt whole, whatever it
      // becomes.
      top_[slot] = FreeLeafRoot(RootOf(top_[slot]));
    }
    if (!IsRoot(top_[slot])) {
      RebuildRoot(cp, slot, key);
      return;
    }
    uint32_t ni = RootOf(top_[slot]);
    // Walk down to the smallest subtree whose shape can change.
    struct Step {
      uint32_t ni;
      int d;  // depth at the node, before its skipped bits
    };
    Step path[W / 6 + 2];
    int np = 0;
    int d = S;
    bool in_jump = false;  // the prefix ends inside the stride of a jump node
    int jd = 0;            // that jump node's depth after its skipped bits
    for (;;) {
      const Node& n = nodes_[ni];
      path[np++] = Step{ni, d};
      int dd = d;
      if (SkipOf(n) != 0) {
        int sk = SkipOf(n);
        if (len <= dd + sk || Bits(key, dd, sk) != SkipBitsOf(n)) break;
        dd += sk;
      }
      int w = StrideOf(n);
      if (IsJump(n)) {
        if (len <= dd + w) {
          in_jump = true;
          jd = dd;
          break;
        }
        ni = n.base1 + static_cast<uint32_t>(Bits(key, dd, w));
        d = dd + w;
        continue;
      }
      if (len <= dd + 6) break;
      uint64_t bit = uint64_t{1} << Bits(key, dd, 6);
      if ((n.vector & bit) == 0) break;
      ni = n.base1 +
           static_cast<uint32_t>(__builtin_popcountll(n.vector & (bit - 1)));
      d = dd + 6;
    }
    if (in_jump) {
      // Only the children under the prefix change: rebuild each of them
      // (or, for a short prefix over many children, the jump node).
      const Node& n = nodes_[path[np - 1].ni];
      int w = StrideOf(n);
      size_t span = size_t{1} << (jd + w - len);
      if (span <= kMaxJumpPatch) {
        uint64_t first = Bits(key, jd, w);
        uint32_t base1 = n.base1;
        std::vector<Entry<K>> es;
        for (uint64_t s = first; s < first + span; ++s) {
          K region = (key & Mask<K>(jd)) | Shifted(s, jd + w);
          es.clear();
          cp.CollectBelow(region, jd + w, &es);
          int32_t inherit = -1;
          cp.Match(region, &inherit, S, jd + w);
          size_t m = DropRedundant(es.data(), es.size(), inherit);
          uint32_t c = base1 + static_cast<uint32_t>(s);
          FreeSubtree(c, false);
          BuildNode(c, es.data(), m, jd + w, inherit, nullptr);
        }
        return;
      }
    }
    // Rebuild path[np-1]; if nothing is left below it, its parent instead
    // (so that deletes do not leave empty nodes behind), except under a
    // jump node, whose children all stay.
    std::vector<Entry<K>> es;
    while (np > 0) {
      const Step& s = path[np - 1];
      K region = key & Mask<K>(s.d);
      es.clear();
      cp.CollectBelow(region, s.d, &es);
      if (!es.empty() || np == 1 || IsJump(nodes_[path[np - 2].ni])) break;
      --np;
    }
    const Step& s = path[np - 1];
    if (np == 1) {
      int32_t short_value = ShortOf(s.ni);
      FreeSubtree(s.ni, true);
      FreeNodes(s.ni, 1);
      es.resize(DropRedundant(es.data(), es.size(), -1));
      top_[slot] = es.empty() ? short_value
                              : BuildRoot(es.data(), es.size(), short_value);
      return;
    }
    int32_t inherit = -1;
    cp.Match(key & Mask<K>(s.d), &inherit, S, s.d);
    es.resize(DropRedundant(es.data(), es.size(), inherit));
    FreeSubtree(s.ni, false);
    BuildNode(s.ni, es.data(), es.size(), s.d, inherit, nullptr);
  }

  // Value of the longest prefix containing k, or -1. Needs allocated().
  int32_t Lookup(K k) const {
    uint64_t hi, lo;
    Split(k, &hi, &lo);
    const Top t = top_[hi >> (64 - S)];
    if (!IsRoot(t)) return t;
    Consume(&hi, &lo, S);
    return leaves_.With([&](auto leaves) -> int32_t {
      if (IsLeafRoot(t)) {
        const LeafRoot& lr = leaf_roots_[RootOf(t)];
        int32_t r = leaves[LeafRootLeaf(lr, hi)];
        return r >= 0 ? r : lr.short_value;
      }
      int32_t r = Walk(RootOf(t), hi, lo, leaves);
      return r >= 0 ? r : leaves[nodes_[RootOf(t)].base0 - 1];
    });
  }

  // out[i] = Lookup(keys[i]). Lanes of kLanes lookups advance one level at a
  // time, with a prefetch for each lane's next node, so that their cache
  // misses overlap. IPv6 walks are deeper, so more lanes pay: measured on a
  // 700k-prefix table (before jump nodes), 16 lanes ~42 ns, 32 ~33, 64
  // ~23-29 ns per address; IPv4 (1-3 nodes) gains nothing past 16.
  void LookupBatch(const K* keys, int32_t* out, size_t n) const {
    Batch(ArrayKeys{keys}, out, n);
  }
  // The same for IPv6 addresses given as 16 bytes each, network byte order.
  void LookupBatchBytes(const uint8_t* a, int32_t* out, size_t n) const {
    Batch(ByteKeys{a}, out, n);
  }

  static constexpr size_t kLanes = PC ? 64 : 16;
  // A table past kLargeBytes (nodes and leaves, not the top level) misses
  // cache on most levels and on its leaf: its batches run more lanes and
  // defer the leaf reads (see LookupLanes; IPv4 32 lanes). Measured on 1M
  // scattered IPv4 prefixes with a value each, 256 per batch: 12.1 ns per
  // address before, 9.0 after; on 10k prefixes, which stay in cache, the
  // deferral would cost 0.2 ns. The bound is half this machine's 2 MiB L2 per
  // core (4 MiB before leaves got narrow: the clustered 1M sets, 3.6 MB now,
  // ran the in-cache path and lost 5-8%; with 1 MiB they gain 12%).
  static constexpr size_t kLargeBytes = size_t{1} << 20;

 private:
  struct ArrayKeys {
    const K* k;
    K Key(size_t i) const { return k[i]; }
    uint64_t Hi(size_t i) const {
      if constexpr (PC) {
        return static_cast<uint64_t>(k[i] >> 64);
      } else {
        return uint64_t{k[i]} << 32;
      }
    }
    ArrayKeys At(size_t i) const { return ArrayKeys{k + i}; }
  };
  struct ByteKeys {
    const uint8_t* a;
    K Key(size_t i) const { return Load6(a + 16 * i); }
    uint64_t Hi(size_t i) const {
      uint64_t hi;
      __builtin_memcpy(&hi, a + 16 * i, 8);
      return __builtin_bswap64(hi);
    }
    ByteKeys At(size_t i) const { return ByteKeys{a + 16 * i}; }
  };

  template <typename Keys>
  void Batch(const Keys& keys, int32_t* out, size_t n) const {
    if (!allocated()) {
      for (size_t i = 0; i < n; ++i) out[i] = -1;
      return;
    }
    const size_t bytes = nodes_.size() * sizeof(Node) +
                         leaf_roots_.size() * sizeof(LeafRoot) +
                         leaves_.size() * leaves_.width();
    leaves_.With([&](auto leaves) {
      if (bytes > kLargeBytes) {
        BatchOf<true, PC ? kLanes : 32>(keys, out, n, leaves);
      } else {
        BatchOf<false, kLanes>(keys, out, n, leaves);
      }
    });
  }

  template <bool kDefer, size_t kL, typename Keys, typename LV>
  void BatchOf(const Keys& keys, int32_t* out, size_t n, LV leaves) const {
    size_t i = 0;
    for (; i + kL <= n; i += kL) {
      LookupLanes<kDefer, kL>(keys.At(i), out + i, kL, leaves);
    }
    if (n - i >= 2) {
      LookupLanes<kDefer, kL>(keys.At(i), out + i, n - i, leaves);
    } else if (i < n) {
      out[i] = Lookup(keys.At(i).Key(0));
    }
  }

  // kLanes lookups at once (see LookupBatch). Needs allocated(). A lane
  // keeps the first 64 bits of its key with the bits already consumed
  // shifted out, so that a level reads its index from the top bits. The
  // rare node that reads past bit 64 (flag kDeep, only under IPv6 prefixes
  // longer than /58 or so) sends its lane to Lookup with the whole key.
  template <bool kDefer, size_t kL, typename Keys, typename LV>
  void LookupLanes(const Keys& keys, int32_t* out, size_t lanes,
                   LV leaves) const {
    uint64_t hi[kL];
    uint32_t ni[kL];
    uint32_t rt[kL];
    uint16_t live[kL];
    size_t nlive = 0;
    // Lanes that reached their leaf: the leaf's slot, read after the walk
    // (prefetched when found), so that these last misses overlap too. With
    // distinct values per prefix (a server's table) the leaves array is as
    // large as the nodes and the leaf read is a miss of its own.
    uint32_t leaf_at[kDefer ? kL : 1];
    uint16_t leafed[kDefer ? kL : 1];
    size_t nleafed = 0;
    // Lanes at a LeafRoot (IPv4): one level, then their leaf, in compact
    // arrays of their own (the LeafRoot, then the leaf and the short value).
    constexpr size_t kR = PC ? 1 : kL;
    uint16_t lr_lane[kR];
    uint32_t lr_at[kR];
    int32_t lr_short[kR];
    size_t nleaf_roots = 0;
    const Top* top = top_.data();
    const Node* nodes = nodes_.data();
    const LeafRoot* leaf_roots = leaf_roots_.data();
    for (size_t l = 0; l < lanes; ++l) {
      hi[l] = keys.Hi(l);
      __builtin_prefetch(&top[hi[l] >> (64 - S)]);
    }
    for (size_t l = 0; l < lanes; ++l) {
      const Top t = top[hi[l] >> (64 - S)];
      out[l] = t;
      if (IsRoot(t)) {
        ni[l] = RootOf(t);
        hi[l] <<= S;
        if (IsLeafRoot(t)) {
          lr_at[nleaf_roots] = ni[l];
          lr_lane[nleaf_roots++] = static_cast<uint16_t>(l);
          __builtin_prefetch(&leaf_roots[ni[l]]);
        } else {
          rt[l] = ni[l];
          live[nlive++] = static_cast<uint16_t>(l);
          __builtin_prefetch(&nodes[ni[l]]);
        }
      }
    }
    for (size_t x = 0; x < nleaf_roots; ++x) {
      const LeafRoot& lr = leaf_roots[lr_at[x]];
      const uint32_t at = LeafRootLeaf(lr, hi[lr_lane[x]]);
      if (kDefer) {
        __builtin_prefetch(leaves.Addr(at));
        lr_at[x] = at;
        lr_short[x] = lr.short_value;
      } else {
        int32_t r = leaves[at];
        out[lr_lane[x]] = r >= 0 ? r : lr.short_value;
      }
    }
    while (nlive != 0) {
      size_t next = 0;
      for (size_t x = 0; x < nlive; ++x) {
        unsigned l = live[x];
        const Node& n = nodes[ni[l]];
        uint64_t h = hi[l];
        uint64_t idx;
        unsigned w = 6;
        if (__builtin_expect(Plain(n), 1)) {
          idx = h >> 58;
        } else {
          uint32_t sw = SkipWord(n);
          unsigned kind = sw >> 29;
          if (kind == kDeep) {
            out[l] = Lookup(keys.Key(l));
            continue;
          }
          unsigned sk = (sw >> 24) & 31;
          if (sk != 0) {
            if ((h >> (64 - sk)) != (sw & 0xffffff)) {
              int32_t r = FailOf(n);
              out[l] = r >= 0 ? r : leaves[nodes[rt[l]].base0 - 1];
              continue;
            }
            h <<= sk;
          }
          w = 6 + 2 * kind;
          idx = h >> (64 - w);
        }
        // A jump node has every bit of vector set: popcount gives idx mod 64,
        // and idx & ~63 adds the rest; a 64-ary node's idx is < 64.
        uint64_t bit = uint64_t{1} << (idx & 63);
        if (n.vector & bit) {
          uint32_t c =
              n.base1 +
              static_cast<uint32_t>(__builtin_popcountll(n.vector & (bit - 1)) +
                                    (idx & ~uint64_t{63}));
          ni[l] = c;
          __builtin_prefetch(&nodes[c]);
          hi[l] = h << w;
          live[next++] = static_cast<uint16_t>(l);
        } else if (const uint64_t lv = n.leafvec; kDefer && (!PC || lv)) {
          const uint32_t at = static_cast<uint32_t>(
              n.base0 + __builtin_popcountll(lv & ((bit << 1) - 1)) - 1);
          __builtin_prefetch(leaves.Addr(at));
          leaf_at[l] = at;
          leafed[nleafed++] = static_cast<uint16_t>(l);
        } else {
          int32_t r = LeafOf(n, bit, leaves);
          out[l] = r >= 0 ? r : leaves[nodes[rt[l]].base0 - 1];
        }
      }
      nlive = next;
    }
    if (kDefer) {
      for (size_t x = 0; x < nleaf_roots; ++x) {
        int32_t r = leaves[lr_at[x]];
        out[lr_lane[x]] = r >= 0 ? r : lr_short[x];
      }
    }
    for (size_t x = 0; x < nleafed; ++x) {
      unsigned l = leafed[x];
      int32_t r = leaves[leaf_at[l]];
      out[l] = r >= 0 ? r : leaves[nodes[rt[l]].base0 - 1];
    }
  }

  // The leaf of a LeafRoot for the key bits at the top of h.
  static uint32_t LeafRootLeaf(const LeafRoot& lr, uint64_t h) {
    uint64_t bit = uint64_t{1} << (h >> 58);
    return static_cast<uint32_t>(
        lr.base0 + __builtin_popcountll(lr.leafvec & ((bit << 1) - 1)) - 1);
  }

  // Most patches of a jump node rebuild only the children under the
  // prefix; a prefix that covers more of them than this rebuilds the node.
  static constexpr size_t kMaxJumpPatch = 64;

  int32_t ShortOf(uint32_t root) const {
    return leaves_[nodes_[root].base0 - 1];
  }

  static int SkipOf(const NodeBase&) { return 0; }
  static int SkipOf(const NodePC& n) {
    return static_cast<int>((n.skip >> 24) & 31);
  }
  static uint64_t SkipBitsOf(const NodeBase&) { return 0; }
  static uint64_t SkipBitsOf(const NodePC& n) { return n.skip & 0xffffff; }
  static constexpr unsigned kDeep = 7;
  static bool Plain(const NodeBase&) { return true; }
  static bool Plain(const NodePC& n) { return n.skip == 0; }
  static uint32_t SkipWord(const NodeBase&) { return 0; }
  static uint32_t SkipWord(const NodePC& n) { return n.skip; }
  static int32_t FailOf(const NodeBase&) { return -1; }
  static int32_t FailOf(const NodePC& n) { return n.fail; }
  static int StrideOf(const NodeBase&) { return 6; }
  static int StrideOf(const NodePC& n) {
    unsigned kind = n.skip >> 29;
    return kind == kDeep ? 6 : 6 + 2 * static_cast<int>(kind);
  }
  static bool IsJump(const Node& n) { return StrideOf(n) != 6; }
  static unsigned ChildCount(const Node& n) {
    return IsJump(n) ? 1u << StrideOf(n)
                     : static_cast<unsigned>(__builtin_popcountll(n.vector));
  }
  static void SetStride(NodeBase*, int) {}
  static void SetStride(NodePC* n, int w) {
    n->skip =
        (n->skip & 0x1fffffffu) | (static_cast<uint32_t>(w - 6) / 2 << 29);
  }
  // Marks a 64-ary node whose stride ends past bit 64.
  static void SetDeep(NodeBase*, int) {}
  static void SetDeep(NodePC* n, int end) {
    if (end > 64) n->skip |= kDeep << 29;
  }
  static void SetSkip(NodeBase*, int, uint64_t) {}
  static void SetSkip(NodePC* n, int sk, uint64_t bits) {
    n->skip = (n->skip & 0xe0000000u) | (static_cast<uint32_t>(sk) << 24) |
              static_cast<uint32_t>(bits);
  }

  // The key as the 64-bit halves that the walks consume from the top.
  static void Split(uint32_t k, uint64_t* hi, uint64_t* lo) {
    *hi = uint64_t{k} << 32;
    *lo = 0;
  }
  static void Split(u128 k, uint64_t* hi, uint64_t* lo) {
    *hi = static_cast<uint64_t>(k >> 64);
    *lo = static_cast<uint64_t>(k);
  }
  // Shifts out n bits, 0 < n < 64; zeros come in (bits past the end of the
  // key read as zero, as in Bits()).
  static void Consume(uint64_t* hi, uint64_t* lo, unsigned n) {
    *hi = (*hi << n) | (*lo >> (64 - n));
    *lo <<= n;
  }
  // The value s placed so that its last bit is bit end - 1 of a key.
  static K Shifted(uint64_t s, int end) {
    return end >= W ? static_cast<K>(s >> (end - W))
                    : static_cast<K>(static_cast<K>(s) << (W - end));
  }

  // One level of a walk with the whole key (Lookup): node n with the key's
  // unconsumed bits at the top of hi:lo. Returns true and the child in
  // *ni, or false and the leaf's value (-1: the top slot's) in *r.
  template <typename LV>
  static bool Step(const Node& n, uint64_t* hi, uint64_t* lo, uint32_t* ni,
                   int32_t* r, LV leaves) {
    uint64_t h = *hi, o = *lo;
    unsigned w = 6;
    if constexpr (PC) {
      unsigned sk = SkipOf(n);
      if (sk != 0) {
        if ((h >> (64 - sk)) != SkipBitsOf(n)) {
          *r = n.fail;
          return false;
        }
        h = (h << sk) | (o >> (64 - sk));
        o <<= sk;
      }
      w = static_cast<unsigned>(StrideOf(n));
    }
    uint64_t idx = h >> (64 - w);
    uint64_t bit = uint64_t{1} << (idx & 63);
    if (n.vector & bit) {
      *ni = n.base1 +
            static_cast<uint32_t>(__builtin_popcountll(n.vector & (bit - 1)) +
                                  (idx & ~uint64_t{63}));
      *hi = (h << w) | (o >> (64 - w));
      *lo = o << w;
      return true;
    }
    *r = LeafOf(n, bit, leaves);
    return false;
  }

  // The value of leaf slot `bit` of node n: from the leaf array, or inline
  // (IPv6, one run; never in a root, which keeps its runs after its hidden
  // leaf).
  template <typename LV>
  static int32_t LeafOf(const Node& n, uint64_t bit, LV leaves) {
    uint64_t lv = n.leafvec;
    if constexpr (!PC) {
      return leaves[n.base0 + __builtin_popcountll(lv & ((bit << 1) - 1)) - 1];
    }
    // An inline run reads leaves[0], a line that stays cached, and drops it.
    size_t at =
        lv ? n.base0 + __builtin_popcountll(lv & ((bit << 1) - 1)) - 1 : 0;
    int32_t x = leaves[at];
    return lv ? x : static_cast<int32_t>(n.base0);
  }

  template <typename LV>
  int32_t Walk(uint32_t ni, uint64_t hi, uint64_t lo, LV leaves) const {
    const Node* nodes = nodes_.data();
    int32_t r;
    while (Step(nodes[ni], &hi, &lo, &ni, &r, leaves)) {
    }
    return r;
  }

  void PaintTop(K key, int len, int32_t value) {
    uint64_t first = len == 0 ? 0 : Bits(key, 0, S);
    uint64_t span = uint64_t{1} << (S - len);
    for (uint64_t s = first; s < first + span; ++s) {
      if (IsLeafRoot(top_[s])) {
        leaf_roots_[RootOf(top_[s])].short_value = value;
      } else if (IsRoot(top_[s])) {
        leaves_.Put(nodes_[RootOf(top_[s])].base0 - 1, value);
      } else {
        top_[s] = value;
      }
    }
  }

  void UpdateShort(const Patricia<K>& cp, K key, int len) {
    int32_t base = -1;
    cp.Match(key, &base, -1, len);
    PaintTop(key, len, base);
    cp.ForEachIn(key, len, len, S,
                 [&](const Entry<K>& e) { PaintTop(e.key, e.len, e.value); });
  }

  void RebuildRoot(const Patricia<K>& cp, uint64_t slot, K key) {
    std::vector<Entry<K>> es;
    cp.CollectBelow(key & Mask<K>(S), S, &es);
    es.resize(DropRedundant(es.data(), es.size(), -1));
    if (es.empty()) return;
    top_[slot] = BuildRoot(es.data(), es.size(), top_[slot]);
  }

  // Drops the entries of e[0..n) (sorted by (key, length)) that change no
  // lookup: those with the value of the nearest longer-than-S prefix that
  // contains them (`base` for the ones that none contains; -1: none). BGP
  // tables have many (more-specifics announced for traffic engineering go
  // to the same next hop as their aggregate). The control plane keeps
  // them. Prefixes of length <= S stay, and count as containing nothing:
  // a change to one repaints top slots without rebuilding the subtrees
  // below it, while a change to a longer one rebuilds its whole region
  // (see Update), whose dropped entries are then judged again. Returns the
  // new count; the order is kept.
  static size_t DropRedundant(Entry<K>* e, size_t n, int32_t base) {
    Entry<K> stack[W + 1];  // the kept entries containing the current one
    int sp = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; ++i) {
      const Entry<K> x = e[i];
      if (x.len <= S) {
        e[w++] = x;
        continue;
      }
      while (sp > 0 && (stack[sp - 1].len >= x.len ||
                        ((x.key ^ stack[sp - 1].key) &
                         Mask<K>(stack[sp - 1].len)) != 0)) {
        --sp;
      }
      int32_t cover = sp > 0 ? stack[sp - 1].value : base;
      if (x.value == cover) continue;
      stack[sp++] = x;
      e[w++] = x;
    }
    return w;
  }

  // The runs of equal leaves over the slots not in vector: their values in
  // runs, where each begins in *leafvec; returns how many.
  static unsigned Runs(const int32_t* leaf, uint64_t vector, int32_t* runs,
                       uint64_t* leafvec) {
    unsigned nruns = 0;
    *leafvec = 0;
    for (unsigned j = 0; j < 64; ++j) {
      if (vector & (uint64_t{1} << j)) continue;
      if (nruns == 0 || leaf[j] != runs[nruns - 1]) {
        *leafvec |= uint64_t{1} << j;
        runs[nruns++] = leaf[j];
      }
    }
    return nruns;
  }

  // The top slot for the region of a slot that holds e[0..n) (n > 0, all
  // longer than S, sorted), whose own value is short_value: for IPv4 a
  // LeafRoot when every prefix ends within the first stride, else a node.
  Top BuildRoot(Entry<K>* e, size_t n, int32_t short_value) {
    if constexpr (!PC) {
      bool deeper = false;
      for (size_t i = 0; i < n; ++i) deeper |= e[i].len > S + 6;
      if (!deeper) {
        int32_t leaf[64];
        for (int j = 0; j < 64; ++j) leaf[j] = -1;
        // Sorted by (key, length): a prefix comes before the ones inside it.
        for (size_t i = 0; i < n; ++i) {
          unsigned j = static_cast<unsigned>(Bits(e[i].key, S, 6));
          unsigned span = 1u << (S + 6 - e[i].len);
          for (unsigned s = j; s < j + span; ++s) leaf[s] = e[i].value;
        }
        int32_t runs[64];
        uint64_t leafvec;
        unsigned nruns = Runs(leaf, 0, runs, &leafvec);
        uint32_t base0 = AllocLeaves(nruns);
        for (unsigned r = 0; r < nruns; ++r) leaves_.Put(base0 + r, runs[r]);
        uint32_t i = AllocLeafRoot();
        leaf_roots_[i] = LeafRoot{leafvec, base0, short_value};
        return TopOfLeafRoot(i);
      }
    }
    uint32_t root = AllocNodes(1);
    BuildNode(root, e, n, S, -1, &short_value);
    return TopOf(root);
  }

  // Builds node ni for the region of depth d that holds e[0..n) (all longer
  // than d, sorted; n may be 0 below a jump node). `inherit` is the value of
  // the longest prefix of length in (S, d] covering the region, or -1. e is
  // reordered. A subtree root gets root_short (its top slot's value) as its
  // hidden leaf.
  void BuildNode(uint32_t ni, Entry<K>* e, size_t n, int d, int32_t inherit,
                 const int32_t* root_short) {
    Node hdr{};
    SetStride(&hdr, 6);
    if constexpr (PC) {
      if (n != 0) {
        int minlen = W;
        for (size_t i = 0; i < n; ++i)
          minlen = e[i].len < minlen ? e[i].len : minlen;
        int cpl = CommonPrefix(e[0].key, e[n - 1].key);
        int room = (cpl < minlen - 1 ? cpl : minlen - 1) - d;
        int sk = room < 0 ? 0 : room > kMaxSkip ? kMaxSkip : room;
        // A jump node starts where its prefixes part; a 64-ary node skips
        // only when that saves a level (a shorter skip would only cost the
        // lookups a slower path).
        int w = ChooseJump(e, n, d + sk);
        if (w == 0 && sk < 6) sk = 0;
        if (sk > 0) {
          SetSkip(&hdr, sk, Bits(e[0].key, d, sk));
          hdr.fail = inherit;
          d += sk;
        }
        if (w != 0) {
          BuildJump(ni, hdr, e, n, d, w, inherit, root_short);
          return;
        }
      }
    }
    int32_t leaf[64];
    uint32_t count[64];
    for (int j = 0; j < 64; ++j) {
      leaf[j] = inherit;
      count[j] = 0;
    }
    uint64_t vector = 0;
    uint64_t differs = 0;  // slots with a longer prefix of another value
    size_t w = 0;
    for (size_t i = 0; i < n; ++i) {
      unsigned j = static_cast<unsigned>(Bits(e[i].key, d, 6));
      if (e[i].len <= d + 6) {
        unsigned span = 1u << (d + 6 - e[i].len);
        for (unsigned s = j; s < j + span; ++s) leaf[s] = e[i].value;
      } else {
        // Sorted by (key, length): every prefix that covers slot j and
        // ends in this stride came before, so leaf[j] is final here.
        vector |= uint64_t{1} << j;
        if (e[i].value != leaf[j]) differs |= uint64_t{1} << j;
        ++count[j];
        e[w++] = e[i];
      }
    }
    if (vector & ~differs) {
      // A slot whose longer prefixes all carry the value it inherits is
      // one value throughout (BGP more-specifics often have their
      // aggregate's next hop): a leaf, not a child.
      vector &= differs;
      size_t k = 0;
      for (size_t i = 0; i < w; ++i) {
        unsigned j = static_cast<unsigned>(Bits(e[i].key, d, 6));
        if (vector & (uint64_t{1} << j)) e[k++] = e[i];
      }
      w = k;
    }
    int32_t runs[64];
    uint64_t leafvec;
    unsigned nruns = Runs(leaf, vector, runs, &leafvec);
    unsigned nchildren = static_cast<unsigned>(__builtin_popcountll(vector));
    uint32_t base0 = 0;
    if (root_short != nullptr) {
      base0 = AllocLeaves(nruns + 1) + 1;
      leaves_.Put(base0 - 1, *root_short);
    } else if (PC && nruns == 1) {
      // One run: its value in base0 itself, leafvec 0 (a node with leaf
      // slots and no run in leafvec means this), no leaf array access.
      // IPv6 only: IPv4 walks end in such a node too rarely (BGP has few
      // prefixes past /24) to pay for the check.
      base0 = static_cast<uint32_t>(runs[0]);
      leafvec = 0;
      nruns = 0;
    } else if (nruns) {
      base0 = AllocLeaves(nruns);
    }
    for (unsigned r = 0; r < nruns; ++r) leaves_.Put(base0 + r, runs[r]);
    uint32_t base1 = nchildren ? AllocNodes(nchildren) : 0;
    hdr.vector = vector;
    hdr.leafvec = leafvec;
    hdr.base0 = base0;
    hdr.base1 = base1;
    SetDeep(&hdr, d + 6);
    nodes_[ni] = hdr;
    size_t pos = 0;
    uint32_t c = 0;
    for (uint64_t m = vector; m != 0; m &= m - 1) {
      unsigned j = static_cast<unsigned>(__builtin_ctzll(m));
      BuildNode(base1 + c, e + pos, count[j], d + 6, leaf[j], nullptr);
      pos += count[j];
      ++c;
    }
  }

  // The stride of a jump node for the entries e[0..n) below depth d, or 0
  // for a 64-ary node: the largest w (even, 8..18, ending by bit 64) with at
  // least 2^w / jump_density_ of the w-bit slots holding a prefix longer
  // than d + w (the children that would be nodes in any case).
  int ChooseJump(const Entry<K>* e, size_t n, int d) const {
    int widest = 64 - d < kMaxJump ? 64 - d : kMaxJump;
    if (jump_density_ == 0 || widest < kMinJump ||
        n * jump_density_ < (size_t{1} << kMinJump)) {
      return 0;
    }
    size_t count[kMaxJump + 1] = {};
    uint64_t last[kMaxJump + 1];
    for (int w = 0; w <= kMaxJump; ++w) last[w] = ~uint64_t{0};
    for (size_t i = 0; i < n; ++i) {
      int most = e[i].len - d - 1;  // the widest stride it lies below
      if (most < kMinJump) continue;
      if (most > widest) most = widest;
      uint64_t s = Bits(e[i].key, d, kMaxJump);
      for (int w = kMinJump; w <= most; w += 2) {
        uint64_t slot = s >> (kMaxJump - w);
        if (slot != last[w]) {
          last[w] = slot;
          ++count[w];
        }
      }
    }
    for (int w = widest & ~1; w >= kMinJump; w -= 2) {
      if (count[w] * jump_density_ >= (size_t{1} << w)) return w;
    }
    return 0;
  }

  // Builds jump node ni (header hdr, with its skip set) of stride w at
  // depth d (after the skip): 2^w children, each a node for its w-bit
  // slot, inheriting the longest prefix of length <= d + w over the slot.
  void BuildJump(uint32_t ni, Node hdr, Entry<K>* e, size_t n, int d, int w,
                 int32_t inherit, const int32_t* root_short) {
    size_t slots = size_t{1} << w;
    std::vector<int32_t> val(slots, inherit);
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      if (e[i].len <= d + w) {
        // Sorted by (key, length): a prefix comes before the ones inside it.
        uint64_t s = Bits(e[i].key, d, w);
        size_t span = size_t{1} << (d + w - e[i].len);
        std::fill(val.begin() + s, val.begin() + s + span, e[i].value);
      } else {
        e[m++] = e[i];
      }
    }
    uint32_t base0 = 0;
    if (root_short != nullptr) {
      base0 = AllocLeaves(1) + 1;
      leaves_.Put(base0 - 1, *root_short);
    }
    uint32_t base1 = AllocNodes(static_cast<unsigned>(slots));
    hdr.vector = ~uint64_t{0};
    hdr.leafvec = 0;
    hdr.base0 = base0;
    hdr.base1 = base1;
    SetStride(&hdr, w);
    nodes_[ni] = hdr;
    size_t i = 0;
    for (size_t s = 0; s < slots; ++s) {
      size_t j = i;
      while (j < m && Bits(e[j].key, d, w) == s) ++j;
      BuildNode(base1 + static_cast<uint32_t>(s), e + i, j - i, d + w, val[s],
                nullptr);
      i = j;
    }
  }

  // Frees the arrays below node ni (its leaves, with the hidden one of a
  // root, and its children), not ni.
  void FreeSubtree(uint32_t ni, bool root) {
    const Node n = nodes_[ni];
    unsigned nl = static_cast<unsigned>(__builtin_popcountll(n.leafvec));
    unsigned nc = ChildCount(n);
    for (unsigned c = 0; c < nc; ++c) FreeSubtree(n.base1 + c, false);
    if (root) {
      FreeLeaves(n.base0 - 1, nl + 1);
    } else if (nl) {
      FreeLeaves(n.base0, nl);
    }
    if (nc) FreeNodes(n.base1, nc);
  }

  // Free blocks of nodes and of leaves, one list per block size (1..64, and
  // 65 for the leaves of a root with 64 runs; node blocks linked through
  // their first node); a bit per non-empty list. A request
  // takes the smallest block that fits and returns the rest to its list.
  // The children of a jump node (2^w > 64) come from the end of the array
  // and go back as blocks of 64.
  uint32_t AllocNodes(unsigned cnt) {
    uint64_t fit =
        cnt <= 64 ? node_lists_ & (~uint64_t{0} << (cnt - 1)) : uint64_t{0};
    if (fit != 0) {
      unsigned size = static_cast<unsigned>(__builtin_ctzll(fit)) + 1;
      uint32_t head = free_nodes_[size];
      free_nodes_[size] = nodes_[head].base0;
      if (free_nodes_[size] == 0) node_lists_ &= ~(uint64_t{1} << (size - 1));
      free_node_slots_ -= size;
      if (size > cnt) FreeNodes(head + cnt, size - cnt);
      return head;
    }
    uint32_t i = static_cast<uint32_t>(nodes_.size());
    GrowTo(&nodes_, nodes_.size() + cnt);
    return i;
  }
  void FreeNodes(uint32_t i, unsigned cnt) {
    while (cnt > 64) {
      FreeNodes(i, 64);
      i += 64;
      cnt -= 64;
    }
    nodes_[i] = Node{};
    nodes_[i].base0 = free_nodes_[cnt];
    free_nodes_[cnt] = i;
    node_lists_ |= uint64_t{1} << (cnt - 1);
    free_node_slots_ += cnt;
  }
  // Free leaf blocks are kept in lists of their own (a 2-byte leaf cannot
  // hold a link), last freed first.
  uint32_t AllocLeaves(unsigned cnt) {
    if (cnt == 65) {
      // A full root: 64 runs and the hidden leaf; its own list, no splits.
      std::vector<uint32_t>& list = free_leaves_[65];
      if (!list.empty()) {
        uint32_t head = list.back();
        list.pop_back();
        free_leaf_slots_ -= 65;
        return head;
      }
    } else if (uint64_t fit = leaf_lists_ & (~uint64_t{0} << (cnt - 1))) {
      unsigned size = static_cast<unsigned>(__builtin_ctzll(fit)) + 1;
      std::vector<uint32_t>& list = free_leaves_[size];
      uint32_t head = list.back();
      list.pop_back();
      if (list.empty()) leaf_lists_ &= ~(uint64_t{1} << (size - 1));
      free_leaf_slots_ -= size;
      if (size > cnt) FreeLeaves(head + cnt, size - cnt);
      return head;
    }
    uint32_t i = static_cast<uint32_t>(leaves_.size());
    leaves_.Resize(leaves_.size() + cnt);
    return i;
  }
  void FreeLeaves(uint32_t i, unsigned cnt) {
    free_leaves_[cnt].push_back(i);
    if (cnt <= 64) leaf_lists_ |= uint64_t{1} << (cnt - 1);
    free_leaf_slots_ += cnt;
  }
  uint32_t AllocLeafRoot() {
    if (!free_leaf_roots_.empty()) {
      uint32_t i = free_leaf_roots_.back();
      free_leaf_roots_.pop_back();
      return i;
    }
    GrowTo(&leaf_roots_, leaf_roots_.size() + 1);
    return static_cast<uint32_t>(leaf_roots_.size() - 1);
  }
  // Frees LeafRoot i with its leaves; returns its short value.
  int32_t FreeLeafRoot(uint32_t i) {
    const LeafRoot lr = leaf_roots_[i];
    FreeLeaves(lr.base0,
               static_cast<unsigned>(__builtin_popcountll(lr.leafvec)));
    free_leaf_roots_.push_back(i);
    return lr.short_value;
  }

  void ForgetFree() {
    std::vector<uint32_t>().swap(free_leaf_roots_);
    std::memset(free_nodes_, 0, sizeof free_nodes_);
    for (auto& list : free_leaves_) std::vector<uint32_t>().swap(list);
    node_lists_ = leaf_lists_ = 0;
    free_node_slots_ = free_leaf_slots_ = 0;
  }

  template <typename T>
  using Vec = std::vector<T, HugeAlloc<T>>;
  Vec<Top> top_;
  Vec<Node> nodes_;
  Vec<LeafRoot> leaf_roots_;
  Leaves leaves_;
  std::vector<uint32_t> free_leaf_roots_;
  uint32_t free_nodes_[65];
  std::vector<uint32_t> free_leaves_[66];  // blocks of 1..65 (65: a root's)
  uint64_t node_lists_ = 0;
  uint64_t leaf_lists_ = 0;
  size_t free_node_slots_ = 0;
  size_t free_leaf_slots_ = 0;
  unsigned jump_density_ = 2;
};

}  // namespace route
}  // namespace vpn

#if defined(VPN_ROUTE_POPCNT_PRAGMA)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#undef VPN_ROUTE_POPCNT_PRAGMA
#endif
