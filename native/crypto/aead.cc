// Batched AEAD over OpenSSL's EVP interface, and the replay window: see
// aead.h. One EVP context per direction holds the key schedule; a packet
// costs one re-init with its nonce, one update, one final.
#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

namespace vpn::crypto {
namespace {

EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

void Nonce(uint64_t counter, uint8_t out[12]) {
  std::memset(out, 0, 4);
  for (int i = 0; i < 8; ++i)
    out[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
}

void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The length an IP header states for p[0, n), or 0 if it is no IP packet
// that fits in n bytes.
size_t IpLength(const uint8_t* p, size_t n) {
  if (n < 20) return 0;
  size_t len;
  if ((p[0] >> 4) == 4) {
    len = (size_t{p[2]} << 8) | p[3];
    if (len < 20) return 0;
  } else if ((p[0] >> 4) == 6 && n >= 40) {
    len = 40 + ((size_t{p[4]} << 8) | p[5]);
  } else {
    return 0;
  }
  return len <= n ? len : 0;
}

}  // namespace

std::unique_ptr<Aead> Aead::Create(Algorithm alg, const uint8_t* key,
                                   std::string* error) {
  const EVP_CIPHER* cipher = alg == Algorithm::kChaCha20Poly1305
                                 ? EVP_chacha20_poly1305()
                                 : EVP_aes_256_gcm();
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  uint8_t nonce[12] = {};
  bool ok = cipher != nullptr && enc != nullptr && dec != nullptr &&
            EVP_EncryptInit_ex(enc, cipher, nullptr, key, nonce) == 1 &&
            EVP_DecryptInit_ex(dec, cipher, nullptr, key, nonce) == 1;
  if (!ok) {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    if (error) *error = "this OpenSSL does not provide the cipher";
    return nullptr;
  }
  return std::unique_ptr<Aead>(new Aead(alg, enc, dec));
}

Aead::~Aead() {
  // EVP_CIPHER_CTX_free cleanses the key schedule.
  EVP_CIPHER_CTX_free(Ctx(enc_));
  EVP_CIPHER_CTX_free(Ctx(dec_));
}

bool Aead::Seal(uint64_t counter, uint8_t* p, size_t len, uint8_t* tag) {
  EVP_CIPHER_CTX* c = Ctx(enc_);
  uint8_t nonce[12];
  Nonce(counter, nonce);
  int out = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce) != 1)
    return false;
  if (len > 0 && EVP_EncryptUpdate(c, p, &out, p, static_cast<int>(len)) != 1)
    return false;
  if (EVP_EncryptFinal_ex(c, p + out, &out) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag) == 1;
}

bool Aead::Open(uint64_t counter, uint8_t* p, size_t len, const uint8_t* tag) {
  EVP_CIPHER_CTX* c = Ctx(dec_);
  uint8_t nonce[12];
  Nonce(counter, nonce);
  int out = 0;
  if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce) != 1)
    return false;
  if (len > 0 && EVP_DecryptUpdate(c, p, &out, p, static_cast<int>(len)) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kTagSize,
                          const_cast<uint8_t*>(tag)) != 1)
    return false;
  return EVP_DecryptFinal_ex(c, p + out, &out) == 1;
}

bool ReplayWindow::Check(uint64_t counter) const {
  if (!any_ || counter > last_) return true;
  if (last_ - counter >= kSize) return false;
  return ((ring_[(counter >> 6) % kBlocks] >> (counter & 63)) & 1) == 0;
}

void ReplayWindow::Update(uint64_t counter) {
  if (!any_ || counter > last_) {
    uint64_t from = any_ ? last_ >> 6 : 0, to = counter >> 6;
    uint64_t blocks = to - from;
    if (!any_) {
      std::memset(ring_, 0, sizeof ring_);
    } else if (blocks >= kBlocks) {
      std::memset(ring_, 0, sizeof ring_);
    } else {
      for (uint64_t i = 1; i <= blocks; ++i) ring_[(from + i) % kBlocks] = 0;
    }
    last_ = counter;
    any_ = true;
  }
  ring_[(counter >> 6) % kBlocks] |= uint64_t{1} << (counter & 63);
}

void ReplayWindow::Reset() {
  std::memset(ring_, 0, sizeof ring_);
  last_ = 0;
  any_ = false;
}

uint32_t SealBatch(Aead& key, uint64_t* next, uint64_t limit, const Batch& b,
                   const SealOptions& o, uint8_t* verdicts,
                   uint64_t* counters_out) {
  uint32_t sealed = 0;
  uint32_t pad = o.pad == 0 ? 1 : o.pad;
  uint32_t n = b.entries ? b.n : b.count;
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = b.entries ? static_cast<uint32_t>(b.entries[k]) : k;
    if (i >= b.count) continue;  // checked by the binding; never trusted here
    int32_t* m = b.meta + size_t{b.stride} * i;
    int64_t off = m[0], len = m[1];
    uint8_t v = kOk;
    if (len < 0) {
      v = kSkipped;
    } else if (off < 0 || static_cast<uint64_t>(off + len) > b.size ||
               off + o.counter_at < 0) {
      v = kShort;
    } else {
      int64_t padded = (len + pad - 1) / pad * pad;
      int64_t extra = padded - len + static_cast<int64_t>(kTagSize);
      if (extra > o.tailroom ||
          static_cast<uint64_t>(off + padded + kTagSize) > b.size ||
          padded + static_cast<int64_t>(kTagSize) > INT32_MAX) {
        v = kNoRoom;
      } else if (*next >= limit) {
        v = kLimit;
      } else {
        uint64_t counter = (*next)++;
        uint8_t* p = b.data + off;
        std::memset(p + len, 0, static_cast<size_t>(padded - len));
        if (!key.Seal(counter, p, static_cast<size_t>(padded), p + padded)) {
          v = kAuth;  // the library failed: never send the entry
        } else {
          if (o.counter_at != 0) StoreLe64(p + o.counter_at, counter);
          if (counters_out) counters_out[i] = counter;
          m[1] = static_cast<int32_t>(padded + kTagSize);
          ++sealed;
        }
      }
    }
    if (v != kOk && v != kSkipped) m[1] = -1;
    if (verdicts) verdicts[i] = v;
  }
  return sealed;
}

uint32_t OpenBatch(Aead& key, ReplayWindow* window, const Batch& b,
                   const OpenOptions& o, uint8_t* verdicts,
                   uint64_t* counters) {
  uint32_t opened = 0;
  uint32_t n = b.entries ? b.n : b.count;
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = b.entries ? static_cast<uint32_t>(b.entries[k]) : k;
    if (i >= b.count) continue;
    int32_t* m = b.meta + size_t{b.stride} * i;
    int64_t off = m[0], len = m[1];
    uint8_t v = kOk;
    uint64_t counter = 0;
    if (len < 0) {
      v = kSkipped;
    } else if (off < 0 || static_cast<uint64_t>(off + len) > b.size ||
               len < static_cast<int64_t>(o.skip + kTagSize) ||
               (o.counter_at >= 0 && o.counter_at + 8 > len)) {
      v = kShort;
    } else {
      uint8_t* p = b.data + off;
      counter = o.counter_at >= 0 ? LoadLe64(p + o.counter_at)
                                  : (counters ? counters[i] : 0);
      size_t clen = static_cast<size_t>(len) - o.skip - kTagSize;
      uint8_t* c = p + o.skip;
      if (counter >= o.limit) {
        v = kLimit;
      } else if (window && !window->Check(counter)) {
        v = kReplay;
      } else if (!key.Open(counter, c, clen, c + clen)) {
        v = kAuth;
      } else {
        if (window) window->Update(counter);
        size_t plain = clen;
        if (clen == 0) {
          v = kEmpty;
        } else if (o.trim_to_ip) {
          plain = IpLength(c, clen);
          if (plain == 0) v = kNotIp;
        }
        if (v == kOk) {
          m[0] = static_cast<int32_t>(off + o.skip);
          m[1] = static_cast<int32_t>(plain);
          ++opened;
        }
      }
    }
    if (o.counter_at >= 0 && counters && v != kShort && v != kSkipped)
      counters[i] = counter;
    if (v != kOk && v != kSkipped) m[1] = -1;
    if (verdicts) verdicts[i] = v;
  }
  return opened;
}

}  // namespace vpn::crypto
