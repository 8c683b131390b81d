#include "route/route_table.h"

#include <algorithm>
#include <cstring>

namespace vpn {
namespace route {

namespace {

constexpr size_t kChunk = 256;

// LSD radix sort of 64-bit items by their bits from `low` up (the bits
// below ride along), 13 bits a pass, skipping passes where every item has
// the same digit. Stable, as LSD sorts are.
void RadixSortFrom(std::vector<uint64_t>* v, int low) {
  constexpr int kDigit = 13;
  constexpr size_t kBuckets = size_t{1} << kDigit;
  size_t n = v->size();
  if (n < 2) return;
  int passes = (64 - low + kDigit - 1) / kDigit;
  std::vector<uint64_t> tmp(n);
  std::vector<uint32_t> hist(static_cast<size_t>(passes) * kBuckets, 0);
  for (uint64_t x : *v) {
    for (int p = 0; p < passes; ++p) {
      ++hist[p * kBuckets + ((x >> (low + p * kDigit)) & (kBuckets - 1))];
    }
  }
  uint64_t* src = v->data();
  uint64_t* dst = tmp.data();
  for (int p = 0; p < passes; ++p) {
    uint32_t* h = &hist[p * kBuckets];
    int shift = low + p * kDigit;
    if (h[((*v)[0] >> shift) & (kBuckets - 1)] == n) continue;  // one digit
    uint32_t sum = 0;
    for (size_t d = 0; d < kBuckets; ++d) {
      uint32_t c = h[d];
      h[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      uint64_t x = src[i];
      dst[h[(x >> shift) & (kBuckets - 1)]++] = x;
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
  // key:32 | len:6 | input position:26, sorted by key and length (stable:
  // equal prefixes stay in input order).
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) {
    const Entry<uint32_t>& e = (*es)[i];
    keys[i] = (uint64_t{e.key} << 32) | (uint64_t{e.len} << 26) | i;
  }
  RadixSortFrom(&keys, 26);
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
  if (f6_.stale) {
    for (size_t i = 0; i < n; ++i) out[i] = f6_.Lookup(Load6(a + 16 * i));
  } else {
    f6_.fib.LookupBatchBytes(a, out, n);
  }
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
      f4_.LookupBatch(k4, r, n4);
      for (size_t j = 0; j < n4; ++j) out[base + at4[j]] = r[j];
    }
    if (n6 != 0) {
      f6_.LookupBatch(k6, r, n6);
      for (size_t j = 0; j < n6; ++j) out[base + at6[j]] = r[j];
    }
  }
  return -1;
}

namespace {

// The entries of one stretch of a bulk load, parsed. Each entry's value
// holds its index within the stretch until the values are known.
struct ParsedLines {
  std::vector<Entry<uint32_t>> e4;
  std::vector<Entry<u128>> e6;
  size_t lines = 0;
  size_t masked = 0;
  std::vector<size_t> masked_index;  // within the stretch
  std::vector<std::string> masked_text;
  bool failed = false;
  size_t error_index = 0;  // within the stretch
  ParseStatus status = ParseStatus::kOk;
  bool v6 = false;
  std::string entry;
};

// Parses the '\n'-separated entries of [p, end): at least one (an empty
// stretch is one empty entry). Stops at the first bad one.
void ParseStretch(const char* p, const char* end, ParsedLines* out) {
  size_t i = 0;
  for (;; ++i) {
    const char* nl = static_cast<const char*>(
        std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* stop = nl ? nl : end;
    ParsedPrefix pp;
    ParseStatus st = ParsePrefix(p, static_cast<size_t>(stop - p), &pp);
    if (st != ParseStatus::kOk) {
      out->failed = true;
      out->error_index = i;
      out->status = st;
      out->v6 = pp.v6;
      out->entry.assign(p, std::min<size_t>(stop - p, 200));
      return;
    }
    if (pp.host_bits) {
      if (out->masked_index.size() < BulkResult::kMaxMaskedReported) {
        out->masked_index.push_back(i);
        out->masked_text.emplace_back(p, stop);
      }
      ++out->masked;
    }
    int32_t at = static_cast<int32_t>(i);
    if (pp.v6) {
      out->e6.push_back(Entry<u128>{pp.addr6, at, pp.len});
    } else {
      out->e4.push_back(Entry<uint32_t>{pp.addr4, at, pp.len});
    }
    if (nl == nullptr) break;
    p = nl + 1;
  }
  out->lines = i + 1;
}

// Appends src's entries to dst with their values: values[first + index]
// (index: what the parser left in value), or `value` for all.
template <typename K>
void TakeEntries(const std::vector<Entry<K>>& src, size_t first,
                 const int32_t* values, int32_t value,
                 std::vector<Entry<K>>* dst) {
  for (Entry<K> e : src) {
    e.value = values ? values[first + static_cast<uint32_t>(e.value)] : value;
    dst->push_back(e);
  }
}

}  // namespace

bool RouteTable::InsertMany(const char* text, size_t len, size_t count,
                            const int32_t* values, size_t nvalues,
                            int32_t value, BulkResult* result,
                            BulkError* error) {
  *result = BulkResult();
  if (count == kCountLines && len != 0 && text[len - 1] == '\n') --len;
  if (len == 0 && (count == 0 || count == kCountLines)) {
    if (values != nullptr && nvalues != 0) {
      error->kind = BulkError::kValueCount;
      error->index = nvalues;
      error->lines = 0;
      return false;
    }
    return true;
  }
  if (count == 0) {
    error->kind = BulkError::kCount;
    return false;
  }
  // Two stretches, split at a newline near the middle, parsed at once.
  ParsedLines part[2];
  const char* end = text + len;
  const char* mid = nullptr;
  if (len >= kParallelEntries * 16) {
    mid = static_cast<const char*>(std::memchr(
        text + len / 2, '\n', static_cast<size_t>(end - (text + len / 2))));
  }
  if (mid == nullptr) {
    ParseStretch(text, end, &part[0]);
  } else {
    BothAtOnce([&] { ParseStretch(mid + 1, end, &part[1]); },
               [&] { ParseStretch(text, mid, &part[0]); });
  }
  int nparts = mid == nullptr ? 1 : 2;
  size_t first[2] = {0, part[0].lines};
  for (int k = 0; k < nparts; ++k) {
    if (part[k].failed) {
      error->kind = BulkError::kParse;
      error->index = first[k] + part[k].error_index;
      error->status = part[k].status;
      error->v6 = part[k].v6;
      error->entry = std::move(part[k].entry);
      return false;
    }
  }
  size_t lines = part[0].lines + (nparts == 2 ? part[1].lines : 0);
  if (count == kCountLines) {
    count = lines;
  } else if (lines != count) {
    error->kind = BulkError::kCount;
    return false;
  }
  if (values != nullptr && nvalues != count) {
    error->kind = BulkError::kValueCount;
    error->index = nvalues;
    error->lines = count;
    return false;
  }
  result->count = count;
  std::vector<Entry<uint32_t>> e4;
  std::vector<Entry<u128>> e6;
  e4.reserve(part[0].e4.size() + part[1].e4.size());
  e6.reserve(part[0].e6.size() + part[1].e6.size());
  for (int k = 0; k < nparts; ++k) {
    TakeEntries(part[k].e4, first[k], values, value, &e4);
    TakeEntries(part[k].e6, first[k], values, value, &e6);
    std::vector<Entry<uint32_t>>().swap(part[k].e4);
    std::vector<Entry<u128>>().swap(part[k].e6);
    result->masked += part[k].masked;
    for (size_t j = 0;
         j < part[k].masked_index.size() &&
         result->masked_index.size() < BulkResult::kMaxMaskedReported;
         ++j) {
      result->masked_index.push_back(first[k] + part[k].masked_index[j]);
      result->masked_text.push_back(std::move(part[k].masked_text[j]));
    }
  }
  SortUnique4(&e4);
  SortUnique6(&e6);
  result->added = f4_.Merge(&e4) + f6_.Merge(&e6);
  result->replaced = count - result->added;
  return true;
}

}  // namespace route
}  // namespace vpn
