// The leaf array of the lookup structure (poptrie.h), stored as narrow as
// its values allow: 2 bytes a leaf while every value is below 0xffff, 3
// while below 0xffffff, else 4. The all-ones pattern of the width is -1 (no
// prefix). A table whose values are small integers (peer or next-hop
// numbers: a server with up to 65534 peers, a million routes with values
// below 16M) thus keeps half or three quarters of the bytes that dominate
// its footprint: on 1M scattered IPv4 prefixes with a value each, the
// leaves are 1.97M of the 13.8 bytes per prefix's 7.9.
//
// A read is one unaligned 4-byte load at i * width and a mask (the array
// keeps 2 bytes of slack past its end so that the load of the last leaf
// stays inside it): the same load as a 4-byte array's, plus a multiply.
// A write of a value too wide for the array widens it first (a copy of
// every leaf, a few milliseconds at 2M leaves; indices stay the same), so
// that callers need not know the width. It never narrows except when it is
// emptied (Assign), which full builds do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "route/huge_alloc.h"

namespace vpn {
namespace route {

class Leaves {
 public:
  static constexpr size_t kSlack = 2;

  // The all-ones pattern of a width: "no prefix" (-1), and the read mask.
  static constexpr uint32_t MaskOf(unsigned width) {
    return width == 4 ? ~uint32_t{0} : (uint32_t{1} << (8 * width)) - 1;
  }

  // The leaf at `at`: the low bytes of a 4-byte load, all ones for -1.
  static int32_t Read(const uint8_t* at, uint32_t mask) {
    uint32_t x;
    std::memcpy(&x, at, 4);
    x &= mask;
    return x == mask ? -1 : static_cast<int32_t>(x);
  }

  // What the lookups read, for a width known at compile time (the lookups
  // are instantiated for each: a multiply by a variable width and a
  // variable mask cost ~10% on a table in cache).
  template <unsigned kWidth>
  struct Fixed {
    static constexpr uint32_t kMask = MaskOf(kWidth);
    const uint8_t* p;
    int32_t operator[](size_t i) const { return Read(p + i * kWidth, kMask); }
    const void* Addr(size_t i) const { return p + i * kWidth; }
  };
  // Calls f with the Fixed view of this array's width.
  template <typename F>
  decltype(auto) With(F&& f) const {
    switch (width_) {
      case 2:
        return f(Fixed<2>{data_.data()});
      case 3:
        return f(Fixed<3>{data_.data()});
      default:
        return f(Fixed<4>{data_.data()});
    }
  }

  // The same with the width read at run time (builds and patches).
  struct View {
    const uint8_t* p;
    uint32_t width;
    uint32_t mask;
    int32_t operator[](size_t i) const { return Read(p + i * width, mask); }
  };

  // The width (2, 3 or 4 bytes) needed for values 0..max (-1 always fits).
  static uint32_t WidthFor(int32_t max) {
    return max < 0xffff ? 2u : max < 0xffffff ? 3u : 4u;
  }

  View view() const { return View{data_.data(), width_, mask_}; }
  int32_t operator[](size_t i) const { return view()[i]; }
  uint32_t width() const { return width_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity_bytes() const { return data_.capacity(); }

  // n leaves of value v, width for values up to max.
  void Assign(size_t n, int32_t v, int32_t max = 0) {
    Vec().swap(data_);
    size_ = 0;
    SetWidth(WidthFor(max));
    Resize(n);
    for (size_t i = 0; i < n; ++i) Put(i, v);
  }
  void Release() {
    Vec().swap(data_);
    size_ = 0;
    SetWidth(2);
  }
  void Reserve(size_t n) { data_.reserve(n * width_ + kSlack); }
  void Resize(size_t n) {
    GrowTo(&data_, n * width_ + kSlack);
    size_ = n;
  }
  void ShrinkToFit() { data_.shrink_to_fit(); }

  // Leaf i = v (-1 or 0..2^31-1), widening the array first if v needs it.
  void Put(size_t i, int32_t v) {
    if (v >= 0 && static_cast<uint32_t>(v) >= mask_) Widen(WidthFor(v));
    uint32_t x = static_cast<uint32_t>(v);
    std::memcpy(data_.data() + i * width_, &x, width_);  // little-endian
  }

 private:
  using Vec = std::vector<uint8_t, HugeAlloc<uint8_t>>;
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "leaves are read as the low bytes of a 4-byte load");

  void SetWidth(uint32_t w) {
    width_ = w;
    mask_ = MaskOf(w);
  }

  void Widen(uint32_t w) {
    Leaves wide;
    wide.SetWidth(w);
    wide.data_.reserve(data_.capacity() / width_ * w + kSlack);
    wide.Resize(size_);
    const View from = view();
    for (size_t i = 0; i < size_; ++i) wide.Put(i, from[i]);
    *this = std::move(wide);
  }

  Vec data_;
  size_t size_ = 0;
  uint32_t width_ = 2;
  uint32_t mask_ = 0xffff;
};

}  // namespace route
}  // namespace vpn
