// The baseline of the batch AEAD benchmark: a plain C loop over OpenSSL's
// EVP interface sealing (or opening) the same batch as bench/wireguard/
// run.js gives AeadKey: COUNT packets of SIZE bytes, 16 bytes of header
// room before and 32 after each, a 64-bit counter nonce per packet, the
// tag after the ciphertext; the same calls as native/crypto/aead.cc, no
// batch bookkeeping. Prints {"packets", "bytes", "seconds", "cpu"}.
//
//   aead seal|open SIZE COUNT SECONDS
#define _GNU_SOURCE
#include <openssl/evp.h>

#include "../cbench.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: aead seal|open SIZE COUNT SECONDS\n");
    return 2;
  }
  int seal = strcmp(argv[1], "seal") == 0;
  size_t size = (size_t)atoi(argv[2]), count = (size_t)atoi(argv[3]);
  double seconds = atof(argv[4]);
  size_t stride = 16 + size + 32;
  unsigned char *buf = calloc(count, stride);
  unsigned char key[32] = {7};
  for (size_t i = 0; i < count * stride; i++) buf[i] = (unsigned char)(i * 31);
  EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new(), *dec = EVP_CIPHER_CTX_new();
  unsigned char nonce[12] = {0};
  if (!EVP_EncryptInit_ex(enc, EVP_chacha20_poly1305(), NULL, key, nonce) ||
      !EVP_DecryptInit_ex(dec, EVP_chacha20_poly1305(), NULL, key, nonce))
    die("EVP init");
  // Open needs sealed packets: seal the batch once with counters 0..count-1.
  unsigned long long counter = 0;
  for (size_t i = 0; i < count; i++) {
    unsigned char *p = buf + i * stride + 16;
    unsigned long long c = counter++;
    memcpy(nonce + 4, &c, 8);
    int out;
    EVP_EncryptInit_ex(enc, NULL, NULL, NULL, nonce);
    EVP_EncryptUpdate(enc, p, &out, p, (int)size);
    EVP_EncryptFinal_ex(enc, p + out, &out);
    EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, 16, p + size);
  }
  double t0 = now(), c0 = cpu(), t;
  unsigned long long packets = 0;
  size_t failures = 0;
  do {
    for (size_t i = 0; i < count; i++) {
      unsigned char *p = buf + i * stride + 16;
      int out;
      if (seal) {
        unsigned long long c = counter++;
        memcpy(nonce + 4, &c, 8);
        EVP_EncryptInit_ex(enc, NULL, NULL, NULL, nonce);
        EVP_EncryptUpdate(enc, p, &out, p, (int)size);
        EVP_EncryptFinal_ex(enc, p + out, &out);
        EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, 16, p + size);
      } else {
        // The same packet opened again and again (the tag fails after the
        // first in-place decrypt, the work is the same: decrypt, verify).
        unsigned long long c = i;
        memcpy(nonce + 4, &c, 8);
        EVP_DecryptInit_ex(dec, NULL, NULL, NULL, nonce);
        EVP_DecryptUpdate(dec, p, &out, p, (int)size);
        EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, 16, p + size);
        failures += EVP_DecryptFinal_ex(dec, p + out, &out) != 1;
      }
    }
    packets += count;
    t = now() - t0;
  } while (t < seconds);
  printf("{\"packets\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"cpu\":%.6f,\"failures\":%zu}\n", packets,
         packets * (unsigned long long)size, t, cpu() - c0, failures);
  return 0;
}
