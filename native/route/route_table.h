// The route table core: a longest-prefix-match table from IPv4 and IPv6
// prefixes to values 0..2^31-1 (-1 = no match), without N-API. The binding
// (native/binding/route_binding.cc) wraps one of these per JS RouteTable.
//
// Design, and why:
//
//  - Two structures per address family. The control plane (patricia.h) is a
//    path-compressed binary trie that takes inserts and deletes and answers
//    the slow questions (which prefix matched, what is under a region). The
//    lookup structure (poptrie.h) is a Poptrie built from it: 18-bit direct
//    top level and 64-ary nodes; for IPv6 also path compression and jump
//    nodes (direct-indexed blocks of 2^8..2^18 children where the region
//    below is dense).
//
//  - Synchronous visibility by incremental patching. An insert or delete
//    updates the control plane and notes the prefix; the next lookup (of
//    any kind) first patches the lookup structure for the noted prefixes:
//    a prefix of length <= S repaints its top-level slots (at most 2^S of
//    them: 0.3 ms for 0.0.0.0/0); a longer one rebuilds, from the control
//    plane, the smallest subtree whose shape can have changed (about a
//    microsecond at 1M prefixes). Many changes in a row (over 64 and over
//    1/32 of the table, e.g. a loop of inserts) are applied as one rebuild
//    instead, so a loop of n inserts costs O(n), not n growing patches. For
//    a family of kDeferRebuildMin prefixes or more whose owner allows it
//    (the binding does), that rebuild runs on a worker from a snapshot of
//    the control plane while lookups answer from the control plane
//    (Family::defer_rebuilds): 37-70 ms of work leave the event loop, which
//    keeps the snapshot copy (2-17 ms at 1M prefixes). So the next lookup
//    always sees every change. Alternatives considered: (a) lookups fall
//    back to the control plane for every change until a worker rebuild
//    lands: each lookup 12-70x slower most of the time under a steady trickle
//    of updates; (b) rebuild on each change: 50-100 ms at 1M prefixes.
//
//  - Readers never see a half-built table. All lookups run on the thread that
//    owns the table (the JS thread of its environment), and patches run
//    inside the lookup call before it reads, so no lookup sees a partial
//    patch. A table built off the event loop (InsertMany on a fresh table in
//    an AsyncWorker: RouteTable.fromAsync) is a separate object that no
//    reader can reach until it is complete; the binding then hands it over.
//
//  - Bulk loads parse, sort (LSD radix sort for IPv4), drop duplicates (the
//    last one wins, as repeated inserts would) and build both structures
//    from the sorted list in linear time; a long list is parsed in two
//    halves at once and the two structures are built at once. A bulk load
//    into a table that already holds many prefixes merges with its sorted
//    contents and rebuilds; a small one is applied as single inserts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "route/cidr.h"
#include "route/ip.h"
#include "route/patricia.h"
#include "route/poptrie.h"

namespace vpn {
namespace route {

// Runs a() on a second thread and b() on this one, and waits for both; the
// first exception (e.g. bad_alloc) is rethrown. Without a second thread
// (creation failed), one after the other. Bulk loads use it: the machines
// this runs on have a core to spare while the event loop waits for a build.
template <typename A, typename B>
void BothAtOnce(A&& a, B&& b) {
  std::exception_ptr err;
  std::thread t;
  try {
    t = std::thread([&] {
      try {
        a();
      } catch (...) {
        err = std::current_exception();
      }
    });
  } catch (const std::system_error&) {
    a();
    b();
    return;
  }
  try {
    b();
  } catch (...) {
    t.join();
    throw;
  }
  t.join();
  if (err) std::rethrow_exception(err);
}

// Lists at least this long are parsed and built on two threads.
constexpr size_t kParallelEntries = 32768;

// Tables at least this big rebuild off the calling thread when their owner
// allows it (Family::defer_rebuilds): below it a rebuild takes under ~3 ms.
constexpr size_t kDeferRebuildMin = size_t{1} << 16;

template <typename K, int S, bool PC>
struct Family {
  using Fib = Poptrie<K, S, PC>;
  Patricia<K> cp;
  Fib fib;
  // Prefixes changed in cp since fib was last brought in line (see Sync).
  std::vector<std::pair<K, uint8_t>> pending;
  bool rebuild = false;  // too many changes: rebuild fib in full

  // Rebuilds elsewhere (the binding, on a libuv worker): when a big table
  // is due a full rebuild, Sync leaves fib as it is and marks it stale;
  // lookups answer from cp meanwhile (correct, 12-70x slower), changes
  // keep being noted, and the owner takes a snapshot (TakeSnapshot), builds
  // a new fib from it (BuildFrom) and hands it in (Adopt), which then
  // applies the changes noted since the snapshot as patches.
  bool defer_rebuilds = false;
  bool stale = false;   // fib is behind cp beyond patching: use cp
  bool wanted = false;  // stale, and no snapshot taken for it yet
  uint64_t epoch = 0;   // bumped when the contents are replaced wholesale

  size_t size() const { return cp.size(); }

  // True when the prefix is new.
  bool Insert(K key, int len, int32_t value) {
    int32_t old = -1;
    bool added = cp.Insert(key, len, value, &old);
    if (added || old != value) Changed(key, len);
    return added;
  }

  bool Erase(K key, int len) {
    if (!cp.Erase(key, len)) return false;
    Changed(key, len);
    return true;
  }

  // Brings fib in line with cp: a patch per changed prefix, or one rebuild
  // when the changes are many (over 64 and over 1/32 of the table), so that
  // a loop of n inserts costs O(n) and not n patches of growing subtrees.
  void Sync() {
    if (pending.empty() && !rebuild) return;
    if (cp.size() == 0) {
      fib.Reset();
      stale = wanted = false;
    } else if (stale) {
      return;  // the changes wait for the new fib (see Adopt)
    } else if (rebuild || !fib.allocated()) {
      if (Defer()) return;
      Rebuild();
    } else {
      for (const auto& p : pending) fib.Update(cp, p.first, p.second);
      pending.clear();
      if (NeedsCompaction() && Defer()) return;
      if (NeedsCompaction()) Rebuild();
    }
    pending.clear();
    rebuild = false;
  }

  bool synced() const { return stale || (pending.empty() && !rebuild); }

  // Needs synced().
  int32_t Lookup(K a) const {
    if (stale) {
      int32_t v = -1;
      cp.Match(a, &v);
      return v;
    }
    return fib.allocated() ? fib.Lookup(a) : -1;
  }
  void LookupBatch(const K* a, int32_t* out, size_t n) const {
    if (stale) {
      for (size_t i = 0; i < n; ++i) out[i] = Lookup(a[i]);
    } else {
      fib.LookupBatch(a, out, n);
    }
  }

  // A copy of cp for a rebuild elsewhere, when one is wanted (else null).
  std::unique_ptr<Patricia<K>> TakeSnapshot() {
    if (!wanted) return nullptr;
    wanted = false;
    return std::make_unique<Patricia<K>>(cp);
  }
  // The new fib for a snapshot (any thread).
  static void BuildFrom(const Patricia<K>& snap, unsigned jump_density,
                        Fib* out) {
    std::vector<Entry<K>> es;
    es.reserve(snap.size());
    snap.CollectAll(&es);
    out->set_jump_density(jump_density);
    if (es.empty()) {
      out->Reset();
    } else {
      out->Build(es.data(), es.size());
    }
  }
  void Abandon() {
    if (!stale) return;
    stale = wanted = false;
    pending.clear();
    rebuild = true;
  }

  // Takes the fib built from the snapshot taken at `at_epoch` (dropped if
  // the contents were replaced since), then the changes since the
  // snapshot: patches, or, when they are many again, another rebuild.
  void Adopt(Fib&& built, uint64_t at_epoch) {
    if (!stale || at_epoch != epoch) return;
    fib = std::move(built);
    stale = false;
    if (rebuild) {
      pending.clear();
      stale = wanted = true;
      rebuild = false;
    }
  }

  // Replaces the contents with sorted, duplicate-free entries (reordered).
  // The two structures are built at once for a long list.
  void Assign(std::vector<Entry<K>>* es) {
    pending.clear();
    rebuild = false;
    stale = wanted = false;
    ++epoch;
    if (es->empty()) {
      cp.BuildSorted(es->data(), 0);
      fib.Reset();
    } else if (es->size() < kParallelEntries) {
      cp.BuildSorted(es->data(), es->size());
      fib.Build(es->data(), es->size());
    } else {
      // fib.Build reorders its input: it gets a copy.
      BothAtOnce(
          [&] {
            std::vector<Entry<K>> scratch(*es);
            fib.Build(scratch.data(), scratch.size());
          },
          [&] { cp.BuildSorted(es->data(), es->size()); });
    }
  }

  // Adds sorted, duplicate-free entries; returns how many were new.
  size_t Merge(std::vector<Entry<K>>* add) {
    size_t before = cp.size();
    if (add->empty()) return 0;
    if (before == 0) {
      Assign(add);
      return cp.size();
    }
    if (add->size() * 16 < before) {
      size_t added = 0;
      for (const Entry<K>& e : *add) added += Insert(e.key, e.len, e.value);
      return added;
    }
    std::vector<Entry<K>> have;
    have.reserve(before);
    cp.CollectAll(&have);
    std::vector<Entry<K>> out;
    out.reserve(have.size() + add->size());
    size_t i = 0, j = 0;
    while (i < have.size() || j < add->size()) {
      if (j == add->size()) {
        out.push_back(have[i++]);
      } else if (i == have.size()) {
        out.push_back((*add)[j++]);
      } else if (Less(have[i], (*add)[j])) {
        out.push_back(have[i++]);
      } else if (Less((*add)[j], have[i])) {
        out.push_back((*add)[j++]);
      } else {
        out.push_back((*add)[j++]);  // same prefix: the new value wins
        ++i;
      }
    }
    Assign(&out);
    return cp.size() - before;
  }

  void Rebuild() {
    std::vector<Entry<K>> es;
    es.reserve(cp.size());
    cp.CollectAll(&es);
    fib.Build(es.data(), es.size());
  }

  static bool Less(const Entry<K>& a, const Entry<K>& b) {
    return a.key < b.key || (a.key == b.key && a.len < b.len);
  }

 private:
  void Changed(K key, int len) {
    if (rebuild) return;
    if (pending.size() >= 64 && pending.size() * 32 >= cp.size()) {
      rebuild = true;
      pending.clear();
      return;
    }
    pending.emplace_back(key, static_cast<uint8_t>(len));
  }

  // Patches leave free blocks that later patches reuse; when more than half
  // of the structure (and over 256 KiB) is free space, rebuild it compact.
  // Rare: it takes on the order of n/64 patches since the last build.
  bool NeedsCompaction() const {
    size_t f = fib.free_bytes();
    return f > (size_t{256} << 10) && f * 2 > fib.bytes();
  }

  // Marks fib stale for a rebuild elsewhere, when that is allowed and pays.
  bool Defer() {
    if (!defer_rebuilds || !fib.allocated() || cp.size() < kDeferRebuildMin) {
      return false;
    }
    pending.clear();
    rebuild = false;
    stale = wanted = true;
    return true;
  }
};

using Family4 = Family<uint32_t, 18, false>;
// IPv6 with S = 18 too: on a 700k-prefix table, batches of 256 took ~18 ns
// per address against ~24 with S = 16 (one node fewer on the way to a /48:
// strides end at bits 24, 30, 36, 42, 48), for 768 KiB more of top level.
using Family6 = Family<u128, 18, true>;

// Why a bulk load failed.
struct BulkError {
  // kCount: the text does not hold `count` entries; kValueCount: the values
  // are not one per entry (`index` entries for `lines`).
  enum Kind : uint8_t { kNone, kParse, kCount, kValueCount } kind = kNone;
  size_t index = 0;  // entry number, for kParse; values given, kValueCount
  size_t lines = 0;  // entries in the text, for kValueCount
  ParseStatus status = ParseStatus::kOk;
  bool v6 = false;  // for the text of kLengthRange
  std::string entry;
};

struct BulkResult {
  size_t count = 0;     // entries given
  size_t added = 0;     // prefixes that were not in the table
  size_t replaced = 0;  // entries that replaced a value (incl. duplicates)
  size_t masked = 0;    // entries with host bits set, masked
  // Indexes and text of the first kMaxMaskedReported masked entries.
  std::vector<size_t> masked_index;
  std::vector<std::string> masked_text;
  static constexpr size_t kMaxMaskedReported = 100;
};

// Result codes of Classify: destination not in the table / not an IP packet.
constexpr int32_t kNoMatch = -1;
constexpr int32_t kNotIp = -2;

class RouteTable {
 public:
  // Single prefixes; key masked by the caller (ParsePrefix does).
  bool Insert4(uint32_t key, int len, int32_t v) {
    return f4_.Insert(key, len, v);
  }
  bool Insert6(u128 key, int len, int32_t v) { return f6_.Insert(key, len, v); }
  bool Erase4(uint32_t key, int len) { return f4_.Erase(key, len); }
  bool Erase6(u128 key, int len) { return f6_.Erase(key, len); }
  bool Get4(uint32_t key, int len, int32_t* v) const {
    return f4_.cp.Get(key, len, v);
  }
  bool Get6(u128 key, int len, int32_t* v) const {
    return f6_.cp.Get(key, len, v);
  }

  // Lookups first apply pending changes (Sync), so they are not const.
  int32_t Lookup4(uint32_t a) {
    if (!f4_.synced()) f4_.Sync();
    return f4_.Lookup(a);
  }
  int32_t Lookup6(u128 a) {
    if (!f6_.synced()) f6_.Sync();
    return f6_.Lookup(a);
  }
  void Sync() {
    f4_.Sync();
    f6_.Sync();
  }
  bool synced() const { return f4_.synced() && f6_.synced(); }

  // Longest match through the control plane, with its length (-1: none).
  int Match4(uint32_t a, int32_t* v) const { return f4_.cp.Match(a, v); }
  int Match6(u128 a, int32_t* v) const { return f6_.cp.Match(a, v); }

  void LookupBatch4(const uint32_t* a, int32_t* out, size_t n) {
    f4_.Sync();
    f4_.LookupBatch(a, out, n);
  }
  // a: n addresses of 16 bytes each, network byte order.
  void LookupBatch6(const uint8_t* a, int32_t* out, size_t n);

  // Destination lookup for packets: packet i is data[meta[2i] ..
  // meta[2i] + meta[2i+1]). out[i] = value, kNoMatch, or kNotIp for a packet
  // shorter than its fixed header or of another IP version. Returns -1, or
  // the index of the first (offset, length) pair outside data (then nothing
  // is written).
  ptrdiff_t Classify(const uint8_t* data, size_t data_len, const int32_t* meta,
                     size_t count, int32_t* out);

  // Parses `count` entries separated by '\n' in text[0..len) (kCountLines:
  // however many lines there are) and adds them: values[i] (nvalues of
  // them, one per entry), or `value` for all when values is null. All or
  // nothing: on an error the table is unchanged. Long lists are parsed in
  // two halves at once.
  static constexpr size_t kCountLines = ~size_t{0};
  bool InsertMany(const char* text, size_t len, size_t count,
                  const int32_t* values, size_t nvalues, int32_t value,
                  BulkResult* result, BulkError* error);

  void Clear() {
    Family4 f4;
    Family6 f6;
    f4.defer_rebuilds = f4_.defer_rebuilds;
    f6.defer_rebuilds = f6_.defer_rebuilds;
    f4.epoch = f4_.epoch + 1;  // a rebuild under way is for the old contents
    f6.epoch = f6_.epoch + 1;
    f4_ = std::move(f4);
    f6_ = std::move(f6);
  }

  // Rebuilds of big tables off the calling thread (see Family): allowed or
  // not (off by default: a rebuild runs inside the lookup that needs it).
  void set_defer_rebuilds(bool on) {
    f4_.defer_rebuilds = f6_.defer_rebuilds = on;
  }
  // True while a family's lookups answer from the control plane.
  bool rebuilding() const { return f4_.stale || f6_.stale; }
  // What a rebuild elsewhere needs and makes: TakeRebuild (this thread)
  // gives one when a family wants it, Run (any thread) builds, Finish (this
  // thread) hands the result in.
  struct RebuildJob {
    std::unique_ptr<Patricia<uint32_t>> snap4;
    std::unique_ptr<Patricia<u128>> snap6;
    uint64_t epoch4 = 0, epoch6 = 0;
    unsigned density6 = 0;
    Family4::Fib fib4;
    Family6::Fib fib6;
    void Run() {
      if (snap4) Family4::BuildFrom(*snap4, 0, &fib4);
      if (snap6) Family6::BuildFrom(*snap6, density6, &fib6);
      snap4.reset();
      snap6.reset();
    }
  };
  std::unique_ptr<RebuildJob> TakeRebuild() {
    if (!f4_.wanted && !f6_.wanted) return nullptr;
    auto job = std::make_unique<RebuildJob>();
    job->snap4 = f4_.TakeSnapshot();
    job->snap6 = f6_.TakeSnapshot();
    job->epoch4 = f4_.epoch;
    job->epoch6 = f6_.epoch;
    job->density6 = f6_.fib.jump_density();
    job->fib4.Reset();
    job->fib6.Reset();
    return job;
  }
  // A rebuild elsewhere failed (out of memory): the next lookup rebuilds
  // in place, and later ones do too.
  void AbandonRebuild() {
    f4_.Abandon();
    f6_.Abandon();
    set_defer_rebuilds(false);
  }
  void FinishRebuild(RebuildJob* job) {
    bool had4 = job->fib4.allocated(), had6 = job->fib6.allocated();
    if (had4) f4_.Adopt(std::move(job->fib4), job->epoch4);
    if (had6) f6_.Adopt(std::move(job->fib6), job->epoch6);
  }

  size_t size() const { return f4_.size() + f6_.size(); }
  size_t size4() const { return f4_.size(); }
  size_t size6() const { return f6_.size(); }
  // Of the lookup structure as last synced.
  size_t lookup_bytes() const { return f4_.fib.bytes() + f6_.fib.bytes(); }
  size_t lookup_bytes4() const { return f4_.fib.bytes(); }
  size_t lookup_bytes6() const { return f6_.fib.bytes(); }
  size_t control_bytes() const { return f4_.cp.bytes() + f6_.cp.bytes(); }

  // For tests and benchmarks.
  Family4& family4() { return f4_; }
  Family6& family6() { return f6_; }

 private:
  Family4 f4_;
  Family6 f6_;
};

// False on an x86-64 CPU without POPCNT, which the lookup code uses.
bool CpuSupported();

// Sorts entries by (key, length), keeping the last of equal prefixes; `seq`
// gives each entry's position in the input. Returns how many were dropped.
size_t SortUnique4(std::vector<Entry<uint32_t>>* es);
size_t SortUnique6(std::vector<Entry<u128>>* es);

}  // namespace route
}  // namespace vpn
