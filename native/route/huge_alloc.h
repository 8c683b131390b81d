// An allocator for the lookup structure's big arrays: blocks of 1 MiB or
// more are fresh mappings, 2 MiB aligned and marked MADV_HUGEPAGE, so that a
// table of tens of megabytes needs a few dozen TLB entries instead of thousands
// (with 4 KiB pages nearly every lookup in a 1M-prefix table also misses the
// TLB). Where transparent huge pages are off this is plain aligned memory.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace vpn {
namespace route {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

template <typename T>
struct HugeAlloc {
  using value_type = T;
  HugeAlloc() = default;
  template <typename U>
  HugeAlloc(const HugeAlloc<U>&) {}  // NOLINT(runtime/explicit)

  static constexpr size_t kHuge = size_t{2} << 20;
  // Blocks from this size on are 2 MiB aligned and on huge pages.
  static constexpr size_t kBig = size_t{1} << 20;
  // ... and fresh mappings, except under AddressSanitizer, where every
  // block comes from malloc so that the sanitizer sees their bounds too.
  static constexpr size_t kMmapMin = kAsan ? ~size_t{0} : kBig;
  static size_t Rounded(size_t bytes) {
    return (bytes + kHuge - 1) & ~(kHuge - 1);
  }

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes >= kMmapMin) {
      // Fresh pages straight from the kernel, 2 MiB aligned: memory that
      // malloc recycles (a vector's earlier, smaller buffers) was faulted
      // in 4 KiB pages, which MADV_HUGEPAGE does not replace; measured on
      // a 1M-prefix table, a third of its arrays stayed on small pages.
      // Mapped with kHuge to spare, then trimmed to the aligned block.
      size_t rounded = Rounded(bytes);
      void* m = mmap(nullptr, rounded + kHuge, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      uintptr_t start = reinterpret_cast<uintptr_t>(m);
      uintptr_t aligned = (start + kHuge - 1) & ~(kHuge - 1);
      if (aligned > start) munmap(m, aligned - start);
      size_t tail = start + kHuge - aligned;  // what is left past the block
      if (tail) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
      madvise(reinterpret_cast<void*>(aligned), rounded, MADV_HUGEPAGE);
      return reinterpret_cast<T*>(aligned);
    }
    void* p = nullptr;
    if (bytes >= kBig) {  // under ASan
      if (posix_memalign(&p, kHuge, Rounded(bytes)) != 0) {
        throw std::bad_alloc();
      }
      madvise(p, Rounded(bytes), MADV_HUGEPAGE);
    } else if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
      throw std::bad_alloc();  // cache-line aligned: nodes never straddle
    }
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes >= kMmapMin) {
      munmap(p, Rounded(bytes));
    } else {
      std::free(p);
    }
  }

  template <typename U>
  bool operator==(const HugeAlloc<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const HugeAlloc<U>&) const {
    return false;
  }
};

// Resizes v to n elements. A big array grows by an eighth, not twice: a
// structure built to its exact size (shrink_to_fit) and then patched would
// otherwise double its capacity, and the bytes it reports, at the first
// patch (1M IPv4 prefixes: 9.9 -> 15.8 bytes a prefix for one insert).
template <typename V>
void GrowTo(V* v, size_t n) {
  size_t cap = v->capacity();
  if (n > cap && cap * sizeof(typename V::value_type) >=
                     HugeAlloc<typename V::value_type>::kBig) {
    v->reserve(n > cap + cap / 8 ? n : cap + cap / 8);
  }
  v->resize(n);
}

}  // namespace route
}  // namespace vpn
