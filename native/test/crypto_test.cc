// The batch AEAD and the replay window without N-API: a sealed batch opens,
// each bad packet gets its verdict and is dropped without stopping the
// batch, and the window accepts each counter once.
#include <cstring>
#include <vector>

#include "crypto/aead.h"
#include "test/check.h"

using namespace vpn::crypto;

namespace {

std::unique_ptr<Aead> Key(uint8_t fill) {
  uint8_t k[kKeySize];
  std::memset(k, fill, sizeof k);
  return Aead::Create(Algorithm::kChaCha20Poly1305, k, nullptr);
}

}  // namespace

TEST(SealedBatchOpensWithHeaderAndPadding) {
  auto k = Key(7);
  CHECK(k != nullptr);
  std::vector<uint8_t> data(4096, 0xee);
  // Three packets, 16 bytes of header room before each and 48 after.
  int32_t meta[6] = {16, 20, 16 + 20 + 64, 1, 200, 0};
  for (int i = 0; i < 20; ++i) data[16 + i] = static_cast<uint8_t>(0x45 + i);
  data[2] = 0;
  data[16 + 2] = 0;
  data[16 + 3] = 20;  // an IPv4 header stating 20 bytes
  std::vector<uint8_t> plain(data.begin() + 16, data.begin() + 36);
  Batch b{data.data(), data.size(), meta, 2, 3, nullptr, 0};
  SealOptions so;
  so.counter_at = -8;
  so.pad = 16;
  so.tailroom = 48;
  uint64_t next = 5;
  uint8_t verdicts[3];
  CHECK_EQ(SealBatch(*k, &next, UINT64_MAX, b, so, verdicts, nullptr), 3u);
  CHECK_EQ(next, 8u);
  CHECK_EQ(meta[1], 32 + 16);
  CHECK_EQ(meta[3], 16 + 16);
  CHECK_EQ(meta[5], 16);  // an empty packet: the tag alone
  CHECK_EQ(data[16 - 8], 5);

  // Open them as datagrams: the entry starts at the 8-byte counter.
  int32_t dmeta[6] = {meta[0] - 8, meta[1] + 8, meta[2] - 8,
                      meta[3] + 8, meta[4] - 8, meta[5] + 8};
  data[dmeta[2] + 20] ^= 1;  // forge the second
  Batch d{data.data(), data.size(), dmeta, 2, 3, nullptr, 0};
  OpenOptions oo;
  oo.counter_at = 0;
  oo.skip = 8;
  oo.trim_to_ip = true;
  ReplayWindow w;
  uint64_t counters[3] = {};
  CHECK_EQ(OpenBatch(*k, &w, d, oo, verdicts, counters), 1u);
  CHECK_EQ(verdicts[0], kOk);
  CHECK_EQ(verdicts[1], kAuth);
  CHECK_EQ(verdicts[2], kEmpty);
  CHECK_EQ(counters[2], 7u);
  CHECK_EQ(dmeta[0], 16);
  CHECK_EQ(dmeta[1], 20);  // padding trimmed by the IP length
  CHECK_EQ(dmeta[3], -1);
  CHECK(std::memcmp(data.data() + 16, plain.data(), plain.size()) == 0);
  CHECK(!w.Check(5) && w.Check(6) && !w.Check(7));
}

TEST(EntriesOutsideTheBufferAreShortNeverTouched) {
  auto k = Key(1);
  std::vector<uint8_t> data(64, 0);
  int32_t meta[4] = {60, 10, -5, 4};
  Batch b{data.data(), data.size(), meta, 2, 2, nullptr, 0};
  uint64_t next = 0;
  uint8_t v[2];
  CHECK_EQ(SealBatch(*k, &next, UINT64_MAX, b, SealOptions{}, v, nullptr), 0u);
  CHECK_EQ(v[0], kShort);
  CHECK_EQ(v[1], kShort);
  CHECK_EQ(next, 0u);
  int32_t m2[2] = {40, 24};  // fits, but no room for the tag after it
  Batch b2{data.data(), data.size(), m2, 2, 1, nullptr, 0};
  CHECK_EQ(SealBatch(*k, &next, UINT64_MAX, b2, SealOptions{}, v, nullptr), 0u);
  CHECK_EQ(v[0], kNoRoom);
}

TEST(ReplayWindowSlides) {
  ReplayWindow w;
  CHECK(w.Check(0));
  w.Update(0);
  CHECK(!w.Check(0));
  w.Update(ReplayWindow::kSize + 10);
  CHECK(!w.Check(10));
  CHECK(w.Check(11));
  for (uint64_t c = 11; c <= ReplayWindow::kSize + 10; ++c) w.Update(c);
  for (uint64_t c = 11; c <= ReplayWindow::kSize + 10; ++c) CHECK(!w.Check(c));
  CHECK(w.Check(ReplayWindow::kSize + 11));
}

TEST_MAIN()
