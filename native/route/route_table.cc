#include "route/route_table.h"

#include <algorithm>
#include <cstring>

namespace vpn {
namespace route {

namespace {

constexpr size_t kChunk = 256;

// LSD radix sort of 64-bit keys, 16 bits a pass, skipping passes where every
// key has the same digit.
void RadixSort64(std::vector<uint64_t>* v) {
  size_t n = v->size();
  if (n < 2) return;
  std::vector<uint64_t> tmp(n);
  std::vector<uint32_t> hist(4 * 65536, 0);
  for (uint64_t x : *v) {
    ++hist[0 * 65536 + (x & 0xffff)];
    ++hist[1 * 65536 + ((x >> 16) & 0xffff)];
    ++hist[2 * 65536 + ((x >> 32) & 0xffff)];
    ++hist[3 * 65536 + (x >> 48)];
  }
  uint64_t* src = v->data();
  uint64_t* dst = tmp.data();
  for (int pass = 0; pass < 4; ++pass) {
    uint32_t* h = &hist[pass * 65536];
    int shift = pass * 16;
    if (h[((*v)[0] >> shift) & 0xffff] == n) continue;  // one digit only
    uint32_t sum = 0;
    for (int d = 0; d < 65536; ++d) {
      uint32_t c = h[d];
      h[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      uint64_t x = src[i];
      dst[h[(x >> shift) & 0xffff]++] = x;
    }
    std::swap(src, dst);
  }
  if (src != v->data()) std::memcpy(v->data(), src, n * sizeof(uint64_t));
}

template <typename K>
bool SortedStrict(const std::vector<Entry<K>>& es) {
  for (size_t i = 1; i < es.size(); ++i) {
    const Entry<K>& a = es[i - 1];
    const Entry<K>& b = es[i];
    if (!(a.key < b.key || (a.key == b.key && a.len < b.len))) return false;
  }
  return true;
}

// Keeps the last of each run of equal prefixes (input sorted, stable).
template <typename K>
size_t UniqueKeepLast(std::vector<Entry<K>>* es) {
  size_t w = 0;
  for (size_t i = 0; i < es->size(); ++i) {
    const Entry<K>& e = (*es)[i];
    if (w > 0 && (*es)[w - 1].key == e.key && (*es)[w - 1].len == e.len) {
      (*es)[w - 1].value = e.value;
    } else {
      (*es)[w++] = e;
    }
  }
  size_t dropped = es->size() - w;
  es->resize(w);
  return dropped;
}

}  // namespace

bool CpuSupported() {
#if defined(__x86_64__) && !defined(__POPCNT__)
  return __builtin_cpu_supports("popcnt");
#else
  return true;
#endif
}

size_t SortUnique4(std::vector<Entry<uint32_t>>* es) {
  size_t n = es->size();
  if (SortedStrict(*es)) return 0;
  if (n >= (size_t{1} << 26)) {
    std::stable_sort(es->begin(), es->end(), Family4::Less);
    return UniqueKeepLast(es);
  }
  // key:32 | len:6 | input position:26, so that the sort is stable.
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) {
    const Entry<uint32_t>& e = (*es)[i];
    keys[i] = (uint64_t{e.key} << 32) | (uint64_t{e.len} << 26) | i;
  }
  RadixSort64(&keys);
  std::vector<Entry<uint32_t>> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = (*es)[keys[i] & ((1u << 26) - 1)];
  es->swap(out);
  return UniqueKeepLast(es);
}

size_t SortUnique6(std::vector<Entry<u128>>* es) {
  if (!SortedStrict(*es)) {
    std::stable_sort(es->begin(), es->end(), Family6::Less);
  }
  return UniqueKeepLast(es);
}

void RouteTable::LookupBatch6(const uint8_t* a, int32_t* out, size_t n) {
  f6_.Sync();
  f6_.fib.LookupBatchBytes(a, out, n);
}

ptrdiff_t RouteTable::Classify(const uint8_t* data, size_t data_len,
                               const int32_t* meta, size_t count,
                               int32_t* out) {
  Sync();
  for (size_t i = 0; i < count; ++i) {
    int64_t off = meta[2 * i];
    int64_t len = meta[2 * i + 1];
    if (off < 0 || len < 0 || static_cast<uint64_t>(off + len) > data_len) {
      return static_cast<ptrdiff_t>(i);
    }
  }
  uint32_t k4[kChunk];
  u128 k6[kChunk];
  uint16_t at4[kChunk], at6[kChunk];
  int32_t r[kChunk];
  for (size_t base = 0; base < count; base += kChunk) {
    size_t m = std::min(kChunk, count - base);
    size_t n4 = 0, n6 = 0;
    for (size_t j = 0; j < m; ++j) {
      size_t i = base + j;
      const uint8_t* p = data + meta[2 * i];
      int32_t len = meta[2 * i + 1];
      out[i] = kNotIp;
      if (len >= 20 && (p[0] >> 4) == 4) {
        k4[n4] = Load4(p + 16);
        at4[n4++] = static_cast<uint16_t>(j);
      } else if (len >= 40 && (p[0] >> 4) == 6) {
        k6[n6] = Load6(p + 24);
        at6[n6++] = static_cast<uint16_t>(j);
      }
    }
    if (n4 != 0) {
      f4_.fib.LookupBatch(k4, r, n4);
      for (size_t j = 0; j < n4; ++j) out[base + at4[j]] = r[j];
    }
    if (n6 != 0) {
      f6_.fib.LookupBatch(k6, r, n6);
      for (size_t j = 0; j < n6; ++j) out[base + at6[j]] = r[j];
    }
  }
  return -1;
}

bool RouteTable::InsertMany(const char* text, size_t len, size_t count,
                            const int32_t* values, int32_t value,
                            BulkResult* result, BulkError* error) {
  *result = BulkResult();
  result->count = count;
  std::vector<Entry<uint32_t>> e4;
  std::vector<Entry<u128>> e6;
  e4.reserve(count);
  const char* p = text;
  const char* end = text + len;
  if (count == 0 && len != 0) {
    error->kind = BulkError::kCount;
    return false;
  }
  for (size_t i = 0; i < count; ++i) {
    if (p > end) {
      error->kind = BulkError::kCount;
      return false;
    }
    const char* nl = static_cast<const char*>(
        std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = nl ? nl : end;
    if (i + 1 < count && nl == nullptr) {
      error->kind = BulkError::kCount;
      return false;
    }
    if (i + 1 == count && nl != nullptr) {
      error->kind = BulkError::kCount;
      return false;
    }
    ParsedPrefix pp;
    ParseStatus st = ParsePrefix(p, static_cast<size_t>(stop - p), &pp);
    if (st != ParseStatus::kOk) {
      error->kind = BulkError::kParse;
      error->index = i;
      error->status = st;
      error->v6 = pp.v6;
      error->entry.assign(p, std::min<size_t>(stop - p, 200));
      return false;
    }
    if (pp.host_bits) {
      if (result->masked_index.size() < BulkResult::kMaxMaskedReported) {
        result->masked_index.push_back(i);
      }
      ++result->masked;
    }
    int32_t v = values ? values[i] : value;
    if (pp.v6) {
      e6.push_back(Entry<u128>{pp.addr6, v, pp.len});
    } else {
      e4.push_back(Entry<uint32_t>{pp.addr4, v, pp.len});
    }
    p = stop + 1;
  }
  SortUnique4(&e4);
  SortUnique6(&e6);
  result->added = f4_.Merge(&e4) + f6_.Merge(&e6);
  result->replaced = count - result->added;
  return true;
}

}  // namespace route
}  // namespace vpn
