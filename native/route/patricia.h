// The control plane of the route table: a path-compressed binary trie
// (PATRICIA) of prefixes, one per address family. It is the source of truth
// for inserts and deletes, answers the slow queries (exact get, longest match
// with its prefix, the entries under a region) and is what the lookup
// structure (poptrie.h) is built from. Nodes live in one vector and refer to
// each other by index; a preorder walk yields the prefixes sorted by
// (address, length), which is the order the builders want.
#pragma once

#include <cstdint>
#include <vector>

#include "route/ip.h"

namespace vpn {
namespace route {

template <typename K>
class Patricia {
 public:
  static constexpr int W = sizeof(K) * 8;

  Patricia() { pool_.emplace_back(); }  // index 0 is "no node"

  size_t size() const { return size_; }
  size_t bytes() const { return pool_.capacity() * sizeof(Node); }

  void Clear() {
    pool_.clear();
    pool_.shrink_to_fit();
    pool_.emplace_back();
    root_ = 0;
    free_ = 0;
    size_ = 0;
  }

  void Reserve(size_t prefixes) { pool_.reserve(2 * prefixes + 1); }

  // Inserts key/len (key masked by the caller) or replaces its value.
  // Returns true when the prefix is new; *old gets a replaced value.
  bool Insert(K key, int len, int32_t value, int32_t* old = nullptr) {
    // The link being followed is child[side] of `owner`, or root_ when owner
    // is 0 (an index, not a pointer: NewNode may move the pool).
    uint32_t owner = 0;
    int side = 0;
    for (;;) {
      uint32_t ni = owner == 0 ? root_ : pool_[owner].child[side];
      if (ni == 0) break;
      Node& n = pool_[ni];
      int c = CommonPrefix(key, n.key);
      if (c > len) c = len;
      if (c > n.len) c = n.len;
      if (c < n.len) {
        uint32_t m = NewNode(key, len, true, value);
        if (c == len) {
          // The new prefix is an ancestor of n.
          pool_[m].child[Bit(pool_[ni].key, len)] = ni;
          SetLink(owner, side, m);
        } else {
          // Diverge at bit c: a glue node with n and the new prefix below.
          uint32_t g = NewNode(key & Mask<K>(c), c, false, 0);
          pool_[g].child[Bit(key, c)] = m;
          pool_[g].child[Bit(pool_[ni].key, c)] = ni;
          SetLink(owner, side, g);
        }
        ++size_;
        return true;
      }
      if (n.len == len) {
        if (n.has) {
          if (old) *old = n.value;
          n.value = value;
          return false;
        }
        n.has = true;
        n.value = value;
        ++size_;
        return true;
      }
      owner = ni;
      side = Bit(key, n.len);
    }
    uint32_t m = NewNode(key, len, true, value);
    SetLink(owner, side, m);
    ++size_;
    return true;
  }

  // Builds the trie of an empty Patricia from entries sorted by (key,
  // length) without duplicates, in linear time: each new prefix comes after
  // everything so far in preorder, so it hangs off the rightmost path, which
  // is kept on a stack.
  void BuildSorted(const Entry<K>* e, size_t n) {
    Clear();
    pool_.reserve(2 * n + 1);
    uint32_t stack[W + 2];
    int sp = 0;
    for (size_t i = 0; i < n; ++i) {
      K key = e[i].key;
      int len = e[i].len;
      uint32_t popped = 0;
      while (sp > 0) {
        const Node& t = pool_[stack[sp - 1]];
        if (t.len < len && CommonPrefix(t.key, key) >= t.len) break;
        popped = stack[--sp];
      }
      uint32_t m = NewNode(key, len, true, e[i].value);
      ++size_;
      if (sp == 0 && root_ == 0) {
        root_ = m;
        stack[sp++] = m;
        continue;
      }
      uint32_t owner = sp > 0 ? stack[sp - 1] : 0;
      int side = sp > 0 ? Bit(key, pool_[owner].len) : 0;
      uint32_t c = owner == 0 ? root_ : pool_[owner].child[side];
      if (c == 0) {
        SetLink(owner, side, m);
        stack[sp++] = m;
        continue;
      }
      // c (== popped) does not contain the new prefix: meet at a glue node.
      (void)popped;
      int at = CommonPrefix(pool_[c].key, key);
      uint32_t g = NewNode(key & Mask<K>(at), at, false, 0);
      pool_[g].child[Bit(pool_[c].key, at)] = c;
      pool_[g].child[Bit(key, at)] = m;
      SetLink(owner, side, g);
      stack[sp++] = g;
      stack[sp++] = m;
    }
  }

  // Removes key/len. Returns false when it was not there.
  bool Erase(K key, int len, int32_t* old = nullptr) {
    uint32_t parent = 0, grand = 0;
    uint32_t ni = root_;
    while (ni != 0) {
      const Node& n = pool_[ni];
      if (n.len > len || CommonPrefix(key, n.key) < n.len) return false;
      if (n.len == len) break;
      grand = parent;
      parent = ni;
      ni = n.child[Bit(key, n.len)];
    }
    if (ni == 0 || !pool_[ni].has || pool_[ni].key != key) return false;
    Node& n = pool_[ni];
    if (old) *old = n.value;
    n.has = false;
    n.value = 0;
    --size_;
    if (n.child[0] != 0 && n.child[1] != 0) return true;  // stays as glue
    uint32_t only = n.child[0] != 0 ? n.child[0] : n.child[1];
    Replace(parent, ni, only);
    FreeNode(ni);
    // A glue parent left with one child goes too.
    if (only == 0 && parent != 0 && !pool_[parent].has) {
      Node& p = pool_[parent];
      uint32_t other = p.child[0] != 0 ? p.child[0] : p.child[1];
      Replace(grand, parent, other);
      FreeNode(parent);
    }
    return true;
  }

  bool Get(K key, int len, int32_t* value) const {
    uint32_t ni = root_;
    while (ni != 0) {
      const Node& n = pool_[ni];
      if (n.len > len || CommonPrefix(key, n.key) < n.len) return false;
      if (n.len == len) {
        if (!n.has) return false;
        *value = n.value;
        return true;
      }
      ni = n.child[Bit(key, n.len)];
    }
    return false;
  }

  // Longest prefix containing addr with lo < len <= hi. Returns its length,
  // or -1 (then *value is untouched).
  int Match(K addr, int32_t* value, int lo = -1, int hi = W) const {
    int best = -1;
    uint32_t ni = root_;
    while (ni != 0) {
      const Node& n = pool_[ni];
      if (n.len > hi || CommonPrefix(addr, n.key) < n.len) break;
      if (n.has && n.len > lo) {
        best = n.len;
        *value = n.value;
      }
      if (n.len == W) break;
      ni = n.child[Bit(addr, n.len)];
    }
    return best;
  }

  // Appends, in (address, length) order, every entry inside the region
  // key/d (key masked to d) with length > d.
  void CollectBelow(K key, int d, std::vector<Entry<K>>* out) const {
    uint32_t ni = root_;
    while (ni != 0) {
      const Node& n = pool_[ni];
      if (n.len >= d) {
        if (CommonPrefix(key, n.key) >= d) Walk(ni, d, out);
        return;
      }
      if (CommonPrefix(key, n.key) < n.len) return;
      ni = n.child[Bit(key, n.len)];
    }
  }

  // Appends every entry, in (address, length) order.
  void CollectAll(std::vector<Entry<K>>* out) const {
    if (root_ != 0) Walk(root_, -1, out);
  }

  // Calls f(entry), in order, for every entry inside the region key/d (key
  // masked to d) with lo < length <= hi; does not descend below length hi.
  template <typename F>
  void ForEachIn(K key, int d, int lo, int hi, F&& f) const {
    uint32_t ni = root_;
    while (ni != 0) {
      const Node& n = pool_[ni];
      if (n.len >= d) {
        if (CommonPrefix(key, n.key) >= d) Visit(ni, lo, hi, f);
        return;
      }
      if (CommonPrefix(key, n.key) < n.len) return;
      ni = n.child[Bit(key, n.len)];
    }
  }

 private:
  struct Node {
    K key = 0;
    uint32_t child[2] = {0, 0};
    int32_t value = 0;
    uint8_t len = 0;
    bool has = false;
  };

  void SetLink(uint32_t owner, int side, uint32_t to) {
    if (owner == 0) {
      root_ = to;
    } else {
      pool_[owner].child[side] = to;
    }
  }

  uint32_t NewNode(K key, int len, bool has, int32_t value) {
    uint32_t i;
    if (free_ != 0) {
      i = free_;
      free_ = pool_[i].child[0];
    } else {
      i = static_cast<uint32_t>(pool_.size());
      pool_.emplace_back();
    }
    Node& n = pool_[i];
    n.key = key;
    n.len = static_cast<uint8_t>(len);
    n.has = has;
    n.value = value;
    n.child[0] = n.child[1] = 0;
    return i;
  }

  void FreeNode(uint32_t i) {
    pool_[i].child[0] = free_;
    pool_[i].child[1] = 0;
    pool_[i].has = false;
    free_ = i;
  }

  // Points the link that held `from` (in `parent`, or root_) at `to`.
  void Replace(uint32_t parent, uint32_t from, uint32_t to) {
    if (parent == 0) {
      root_ = to;
      return;
    }
    Node& p = pool_[parent];
    if (p.child[0] == from) {
      p.child[0] = to;
    } else {
      p.child[1] = to;
    }
  }

  void Walk(uint32_t ni, int d, std::vector<Entry<K>>* out) const {
    // Preorder, child 0 first: sorted by (address, length).
    uint32_t stack[2 * W + 4];
    int sp = 0;
    stack[sp++] = ni;
    while (sp > 0) {
      const Node& n = pool_[stack[--sp]];
      if (n.has && n.len > d) out->push_back(Entry<K>{n.key, n.value, n.len});
      if (n.child[1] != 0) stack[sp++] = n.child[1];
      if (n.child[0] != 0) stack[sp++] = n.child[0];
    }
  }

  template <typename F>
  void Visit(uint32_t ni, int lo, int hi, F& f) const {
    uint32_t stack[2 * W + 4];
    int sp = 0;
    stack[sp++] = ni;
    while (sp > 0) {
      const Node& n = pool_[stack[--sp]];
      if (n.len > hi) continue;
      if (n.has && n.len > lo) f(Entry<K>{n.key, n.value, n.len});
      if (n.child[1] != 0) stack[sp++] = n.child[1];
      if (n.child[0] != 0) stack[sp++] = n.child[0];
    }
  }

  std::vector<Node> pool_;
  uint32_t root_ = 0;
  uint32_t free_ = 0;
  size_t size_ = 0;
};

}  // namespace route
}  // namespace vpn
