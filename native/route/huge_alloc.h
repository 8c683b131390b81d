// An allocator for the lookup structure's big arrays: blocks of 1 MiB or
// more are 2 MiB aligned and marked MADV_HUGEPAGE, so that a table of tens of
// megabytes needs a few dozen TLB entries instead of thousands (with 4 KiB
// pages nearly every lookup in a 1M-prefix table also misses the TLB). Where
// transparent huge pages are off this is plain aligned memory.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace vpn {
namespace route {

template <typename T>
struct HugeAlloc {
  using value_type = T;
  HugeAlloc() = default;
  template <typename U>
  HugeAlloc(const HugeAlloc<U>&) {}  // NOLINT(runtime/explicit)

  static constexpr size_t kHuge = size_t{2} << 20;

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    void* p = nullptr;
    if (bytes >= (size_t{1} << 20)) {
      size_t rounded = (bytes + kHuge - 1) & ~(kHuge - 1);
      if (posix_memalign(&p, kHuge, rounded) != 0) throw std::bad_alloc();
      madvise(p, rounded, MADV_HUGEPAGE);
    } else if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
      throw std::bad_alloc();  // cache-line aligned: nodes never straddle
    }
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }

  template <typename U>
  bool operator==(const HugeAlloc<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const HugeAlloc<U>&) const {
    return false;
  }
};

}  // namespace route
}  // namespace vpn
