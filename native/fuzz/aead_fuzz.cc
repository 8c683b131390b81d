// libFuzzer target for the batch AEAD and the replay window
// (native/crypto/aead.cc): entries anywhere (outside the buffer, overlapping,
// short) never read or write outside it, every verdict is one of the list,
// a batch of disjoint entries sealed then opened gives back its plaintexts,
// and the window agrees with a plain set of seen counters.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "crypto/aead.cc"  // NOLINT(build/include): instrumented copy
#include "crypto/aead.h"

using namespace vpn::crypto;

namespace {

void Fail(const char* what) {
  fprintf(stderr, "aead_fuzz: %s\n", what);
  abort();
}

// The window as a set: accepted when newer than all seen, or unseen and
// less than kSize behind the newest.
void WindowOracle(const uint8_t* p, size_t n) {
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t top = 0;
  uint64_t base = 0;
  for (size_t i = 0; i + 2 <= n; i += 2) {
    uint16_t d = static_cast<uint16_t>(p[i] | (p[i + 1] << 8));
    // Mostly near the top, sometimes a jump.
    uint64_t c =
        (d & 0x8000) ? base + (d & 0x7fff) * 97u : top + 64 - (d & 0x3fff);
    if (c > (1ull << 40)) c &= (1ull << 40) - 1;
    bool want = seen.empty() || c > top ||
                (top - c < ReplayWindow::kSize && !seen.count(c));
    if (w.Check(c) != want) Fail("window disagrees with the set");
    if (want) {
      w.Update(c);
      seen.insert(c);
      if (c > top || seen.size() == 1) top = c;
      if (top > 100000) base = top - 100000;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* in, size_t size) {
  static std::unique_ptr<Aead> keys[2];
  if (!keys[0]) {
    uint8_t k[kKeySize];
    for (size_t i = 0; i < kKeySize; ++i) k[i] = static_cast<uint8_t>(i * 7);
    keys[0] = Aead::Create(Algorithm::kChaCha20Poly1305, k, nullptr);
    keys[1] = Aead::Create(Algorithm::kAes256Gcm, k, nullptr);
  }
  if (size < 2) return 0;
  uint8_t flags = in[0];
  if (flags == 0xff) {
    WindowOracle(in + 1, size - 1);
    return 0;
  }
  uint32_t count = in[1] % 17;
  size_t at = 2;
  if (size < at + 4 * count) return 0;
  std::vector<int32_t> meta(2 * count);
  for (uint32_t i = 0; i < count; ++i, at += 4) {
    meta[2 * i] = static_cast<int16_t>(in[at] | (in[at + 1] << 8));
    meta[2 * i + 1] = static_cast<int16_t>(in[at + 2] | (in[at + 3] << 8));
  }
  std::vector<uint8_t> data(in + at, in + size);
  Aead& key = *keys[flags & 1];
  std::vector<uint8_t> verdicts(count, 0xff);

  // Opening whatever is there: no overread, sane verdicts and entries.
  {
    std::vector<uint8_t> d = data;
    std::vector<int32_t> m = meta;
    std::vector<uint64_t> counters(count, 3);
    Batch b{d.data(), d.size(), m.data(), 2, count, nullptr, 0};
    OpenOptions o;
    o.counter_at = (flags & 2) ? 0 : -1;
    o.skip = (flags & 2) ? 8 : 0;
    o.trim_to_ip = (flags & 4) != 0;
    ReplayWindow w;
    uint32_t ok = OpenBatch(key, (flags & 8) ? &w : nullptr, b, o,
                            verdicts.data(), counters.data());
    uint32_t oks = 0;
    for (uint32_t i = 0; i < count; ++i) {
      if (verdicts[i] > kSkipped) Fail("verdict out of range");
      if (verdicts[i] == kOk) {
        ++oks;
        if (m[2 * i] < 0 ||
            static_cast<size_t>(m[2 * i]) + m[2 * i + 1] > d.size())
          Fail("an opened entry outside the buffer");
      } else if (verdicts[i] != kSkipped && m[2 * i + 1] != -1) {
        Fail("a refused entry was not dropped");
      }
    }
    if (ok != oks) Fail("count of opened entries");
  }

  // Seal then open: entries that fit, with room, and do not overlap.
  uint32_t pad = (flags & 16) ? 16 : 1;
  std::vector<uint8_t> d = data;
  std::vector<int32_t> m = meta;
  Batch b{d.data(), d.size(), m.data(), 2, count, nullptr, 0};
  SealOptions so;
  so.pad = pad;
  so.tailroom = 64;
  std::vector<uint64_t> counters(count, 0);
  uint64_t next = (flags & 32) ? UINT64_MAX - 3 : 0;
  SealBatch(key, &next, UINT64_MAX - 1, b, so, verdicts.data(),
            counters.data());
  for (uint32_t i = 0; i < count; ++i) {
    if (verdicts[i] > kSkipped) Fail("seal verdict out of range");
    if (verdicts[i] == kOk &&
        (m[2 * i] < 0 ||
         static_cast<size_t>(m[2 * i]) + m[2 * i + 1] > d.size()))
      Fail("a sealed entry outside the buffer");
  }
  // Which sealed entries touched no other entry's bytes.
  std::vector<bool> alone(count, true);
  for (uint32_t i = 0; i < count; ++i) {
    if (verdicts[i] != kOk) continue;
    int64_t a0 = m[2 * i], a1 = a0 + m[2 * i + 1];
    for (uint32_t j = 0; j < count; ++j) {
      if (j == i || meta[2 * j + 1] < 0) continue;
      int64_t b0 = meta[2 * j], b1 = b0 + meta[2 * j + 1];
      if (verdicts[j] == kOk) b1 = b0 + m[2 * j + 1];
      if (a0 < b1 && b0 < a1) alone[i] = alone[j] = false;
    }
  }
  std::vector<uint8_t> ov(count);
  OpenOptions oo;
  oo.counter_at = -1;
  std::vector<uint8_t> sealed_v = verdicts;
  std::vector<int32_t> sealed_len(count);
  for (uint32_t i = 0; i < count; ++i) sealed_len[i] = m[2 * i + 1];
  OpenBatch(key, nullptr, b, oo, ov.data(), counters.data());
  for (uint32_t i = 0; i < count; ++i) {
    if (sealed_v[i] != kOk || !alone[i]) continue;
    size_t len = static_cast<size_t>(meta[2 * i + 1]);
    // An empty plaintext opens as kEmpty (a keepalive), unless padded.
    bool empty = sealed_len[i] == static_cast<int32_t>(kTagSize);
    if (ov[i] != (empty ? kEmpty : kOk)) Fail("a sealed entry did not open");
    if (std::memcmp(d.data() + meta[2 * i], data.data() + meta[2 * i], len) !=
        0)
      Fail("an opened entry differs from what was sealed");
    if (empty) continue;
    for (size_t k = len; k < static_cast<size_t>(m[2 * i + 1]); ++k)
      if (d[meta[2 * i] + k] != 0) Fail("padding is not zero");
  }
  return 0;
}
