// libFuzzer target for the CIDR and address parser (native/route/cidr.cc):
// no crash or overread on any input, whatever parses formats back to text
// that parses to the same prefix, and the (unrolled, table-driven) address
// parsers agree with the plain ones below on every input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "route/cidr.h"

// The route sources are compiled into the target itself, so that they get
// libFuzzer's coverage instrumentation (vpn_core is built without it); the
// copies in vpn_core are then never pulled from the archive.
#include "route/cidr.cc"  // NOLINT(build/include)

using namespace vpn::route;

namespace {

// The reference: the parsers as first written, a character at a time.
bool IsDigitRef(char c) { return c >= '0' && c <= '9'; }
int HexValueRef(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool RefParseIPv4(const char* s, size_t n, uint32_t* out) {
  uint32_t acc = 0;
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (i >= n || !IsDigitRef(s[i])) return false;
    if (s[i] == '0' && i + 1 < n && IsDigitRef(s[i + 1])) return false;
    uint32_t v = 0;
    int digits = 0;
    while (i < n && IsDigitRef(s[i])) {
      if (++digits > 3) return false;
      v = v * 10 + static_cast<uint32_t>(s[i] - '0');
      ++i;
    }
    if (v > 255) return false;
    acc = (acc << 8) | v;
    if (part < 3) {
      if (i >= n || s[i] != '.') return false;
      ++i;
    }
  }
  if (i != n) return false;
  *out = acc;
  return true;
}

bool RefParseIPv6(const char* s, size_t n, u128* out) {
  uint16_t groups[8];
  int ng = 0;
  int gap = -1;  // index in groups where "::" stands
  size_t i = 0;
  if (n < 2) return false;
  if (s[0] == ':') {
    if (s[1] != ':') return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    size_t start = i;
    uint32_t v = 0;
    int digits = 0;
    while (i < n) {
      int h = HexValueRef(s[i]);
      if (h < 0) break;
      if (++digits > 4) {
        // Could still be a dotted IPv4 tail only if all are decimal, which a
        // 5-digit run cannot be either.
        return false;
      }
      v = (v << 4) | static_cast<uint32_t>(h);
      ++i;
    }
    if (digits == 0) return false;
    if (i < n && s[i] == '.') {
      // Trailing dotted IPv4: two groups, and the end of the address.
      uint32_t a4;
      if (ng > 6 || !RefParseIPv4(s + start, n - start, &a4)) return false;
      groups[ng++] = static_cast<uint16_t>(a4 >> 16);
      groups[ng++] = static_cast<uint16_t>(a4);
      i = n;
      break;
    }
    if (ng == 8) return false;
    groups[ng++] = static_cast<uint16_t>(v);
    if (i == n) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < n && s[i] == ':') {
      if (gap >= 0) return false;
      gap = ng;
      ++i;
    } else if (i == n) {
      return false;  // a single trailing ':'
    }
  }
  uint16_t full[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (gap < 0) {
    if (ng != 8) return false;
    for (int g = 0; g < 8; ++g) full[g] = groups[g];
  } else {
    if (ng > 7) return false;
    for (int g = 0; g < gap; ++g) full[g] = groups[g];
    int tail = ng - gap;
    for (int g = 0; g < tail; ++g) full[8 - tail + g] = groups[gap + g];
  }
  u128 a = 0;
  for (int g = 0; g < 8; ++g) a = (a << 16) | full[g];
  *out = a;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so that ASan sees any read past the end.
  char* s = static_cast<char*>(std::malloc(size ? size : 1));
  if (size) __builtin_memcpy(s, data, size);
  ParsedPrefix p;
  if (ParsePrefix(s, size, &p) == ParseStatus::kOk) {
    std::string text =
        p.v6 ? FormatPrefix6(p.addr6, p.len) : FormatPrefix4(p.addr4, p.len);
    ParsedPrefix q;
    if (ParsePrefix(text.data(), text.size(), &q) != ParseStatus::kOk ||
        q.v6 != p.v6 || q.len != p.len || q.addr4 != p.addr4 ||
        q.addr6 != p.addr6 || q.host_bits) {
      std::abort();
    }
  }
  uint32_t r4 = 0, f4 = 0;
  bool ref4 = RefParseIPv4(s, size, &r4);
  if (ref4 != ParseIPv4(s, size, &f4) || (ref4 && r4 != f4)) std::abort();
  u128 r6 = 0, f6 = 0;
  bool ref6 = RefParseIPv6(s, size, &r6);
  if (ref6 != ParseIPv6(s, size, &f6) || (ref6 && r6 != f6)) std::abort();
  ParsedAddress a;
  if (ParseAddress(s, size, &a) == ParseStatus::kOk) {
    std::string text = a.v6 ? FormatIPv6(a.addr6) : FormatIPv4(a.addr4);
    ParsedAddress b;
    if (ParseAddress(text.data(), text.size(), &b) != ParseStatus::kOk ||
        b.v6 != a.v6 || b.addr4 != a.addr4 || b.addr6 != a.addr6) {
      std::abort();
    }
  }
  std::free(s);
  return 0;
}
