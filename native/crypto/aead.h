// Batched authenticated encryption: seal and open many packets in place in
// one call, each with its own 64-bit counter nonce and a per-packet verdict
// (a bad packet never fails the batch). The ciphers are OpenSSL's (the one
// Node carries: the addon leaves EVP_* undefined and the node binary
// supplies them; the C++ tests link the system's libcrypto). Also the
// anti-replay window of RFC 6479 (a ring of 64-bit blocks, 8192 bits).
//
// Nonce: 4 zero bytes, then the counter little-endian (RFC 8439 and
// WireGuard's layout); no associated data; the 16-byte tag follows the
// ciphertext.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace vpn::crypto {

constexpr size_t kKeySize = 32;
constexpr size_t kTagSize = 16;

enum class Algorithm { kChaCha20Poly1305, kAes256Gcm };

// Per-packet outcome (the verdicts array; stable numbers, lib/crypto names
// them).
enum Verdict : uint8_t {
  kOk = 0,
  kAuth = 1,    // open: the tag did not verify
  kShort = 2,   // shorter than tag (and header), or a header outside the buffer
  kReplay = 3,  // open: counter seen already, or older than the window
  kLimit = 4,   // seal/open: counter at or past the key's limit
  kNoRoom = 5,  // seal: no room for padding and tag after the packet
  kNotIp = 6,   // open with trim: the plaintext is no IP packet
  kEmpty = 7,   // open: an empty plaintext (a keepalive)
  kSkipped = 8,  // the entry was dropped before (negative length)
};

class Aead {
 public:
  // nullptr and *error on failure (unknown cipher in this OpenSSL).
  static std::unique_ptr<Aead> Create(Algorithm alg, const uint8_t* key,
                                      std::string* error);
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;

  // In place: p[0, len) is encrypted, the tag written to tag[0, 16).
  bool Seal(uint64_t counter, uint8_t* p, size_t len, uint8_t* tag);
  // In place: false if the tag does not verify (p then holds garbage).
  bool Open(uint64_t counter, uint8_t* p, size_t len, const uint8_t* tag);

  Algorithm algorithm() const { return alg_; }

 private:
  Aead(Algorithm alg, void* enc, void* dec) : alg_(alg), enc_(enc), dec_(dec) {}
  Algorithm alg_;
  void* enc_;  // EVP_CIPHER_CTX*, key set
  void* dec_;
};

// RFC 6479 sliding window over 64-bit counters: 8192 bits in a ring of
// blocks, of which the newest 8128 counters are tracked (WireGuard's size).
class ReplayWindow {
 public:
  static constexpr uint64_t kBlocks = 128;
  static constexpr uint64_t kSize = (kBlocks - 1) * 64;
  // Would `counter` be accepted (not seen, not older than the window)?
  bool Check(uint64_t counter) const;
  // Marks `counter` seen (call once its packet authenticated).
  void Update(uint64_t counter);
  void Reset();
  // The highest counter seen; seen() false before the first.
  uint64_t last() const { return last_; }
  bool seen() const { return any_; }

 private:
  uint64_t ring_[kBlocks] = {};
  uint64_t last_ = 0;
  bool any_ = false;
};

// A batch as the package hands them out: data, and per entry `stride`
// int32s starting with (offset, length); length < 0: dropped.
struct Batch {
  uint8_t* data;
  size_t size;
  int32_t* meta;
  uint32_t stride;
  uint32_t count;
  // Entry indices to work on (nullptr: 0..count-1), n of them.
  const int32_t* entries;
  uint32_t n;
};

struct SealOptions {
  // The counter is written little-endian at offset + counter_at (a header
  // before the packet: counter_at <= -8); 0: not written.
  int32_t counter_at = 0;
  // Zero-pad the plaintext to a multiple of this (1: none; WireGuard: 16).
  uint32_t pad = 1;
  // Bytes after each entry that may hold padding and tag.
  uint32_t tailroom = kTagSize;
};

struct OpenOptions {
  // The counter is read at offset + counter_at (a header inside the entry),
  // or taken from counters[] when counter_at < 0 (else counters[], if
  // given, receives the counter read).
  int32_t counter_at = -1;
  // Bytes of header before the ciphertext; the entry's offset moves past it.
  uint32_t skip = 0;
  // Cut each plaintext to its IP header's length (drops padding); verdict
  // kNotIp when it is no IP packet that fits.
  bool trim_to_ip = false;
  // Counters at or above this are refused (kLimit).
  uint64_t limit = UINT64_MAX;
};

// Seals the batch's entries in place: counters from *next (incremented per
// sealed entry; an entry whose counter would reach `limit` gets kLimit);
// each sealed entry's length grows by padding + tag. verdicts[i] and
// counters_out[i] (either may be nullptr) are indexed by entry. Returns the
// number sealed.
uint32_t SealBatch(Aead& key, uint64_t* next, uint64_t limit, const Batch& b,
                   const SealOptions& o, uint8_t* verdicts,
                   uint64_t* counters_out);

// Opens the batch's entries in place: replay checked before and updated
// after authentication (window may be nullptr); entries that fail are
// dropped (length -1). Each opened entry becomes its plaintext (offset past
// the header, length without tag/padding). Returns the number opened.
uint32_t OpenBatch(Aead& key, ReplayWindow* window, const Batch& b,
                   const OpenOptions& o, uint8_t* verdicts, uint64_t* counters);

}  // namespace vpn::crypto
