#include "route/cidr.h"

#include <cstdio>

namespace vpn {
namespace route {

namespace {

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Hex digit values, -1 for anything else.
constexpr int8_t kHexValue[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  -1, -1, -1, -1, -1, -1,  //
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
};

bool HasColon(const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == ':') return true;
  }
  return false;
}

}  // namespace

bool ParseIPv4(const char* s, size_t n, uint32_t* out) {
  // Unrolled per octet (this is on the path of every lookup of a string):
  // one to three digits, no leading zero, at most 255, then '.' or the end.
  if (n < 7 || n > 15) return false;
  const char* p = s;
  const char* end = s + n;
  uint32_t acc = 0;
  for (int part = 0; part < 4; ++part) {
    unsigned v = static_cast<unsigned char>(*p) - '0';
    if (v > 9) return false;
    ++p;
    if (p != end) {
      unsigned d = static_cast<unsigned char>(*p) - '0';
      if (d <= 9) {
        if (v == 0) return false;  // leading zero
        v = v * 10 + d;
        ++p;
        if (p != end) {
          d = static_cast<unsigned char>(*p) - '0';
          if (d <= 9) {
            v = v * 10 + d;
            ++p;
            if (v > 255) return false;
          }
        }
      }
    }
    acc = (acc << 8) | v;
    if (part < 3) {
      if (p == end || *p != '.') return false;
      ++p;
      if (p == end) return false;
    }
  }
  if (p != end) return false;
  *out = acc;
  return true;
}

bool ParseIPv6(const char* s, size_t n, u128* out) {
  // The longest valid text: six 4-digit groups and a 15-character IPv4.
  if (n < 2 || n > 45) return false;
  uint16_t groups[8];
  int ng = 0;
  int gap = -1;  // index in groups where "::" stands
  const char* p = s;
  const char* end = s + n;
  if (*p == ':') {
    if (p[1] != ':') return false;
    gap = 0;
    p += 2;
  }
  while (p != end) {
    const char* start = p;
    unsigned v = 0;
    int digits = 0;
    for (; p != end; ++p) {
      int h = kHexValue[static_cast<unsigned char>(*p)];
      if (h < 0) break;
      // Five digits cannot be a group, nor the start of an IPv4 tail.
      if (++digits > 4) return false;
      v = (v << 4) | static_cast<unsigned>(h);
    }
    if (digits == 0) return false;
    if (p != end && *p == '.') {
      // Trailing dotted IPv4: two groups, and the end of the address.
      uint32_t a4;
      if (ng > 6 || !ParseIPv4(start, static_cast<size_t>(end - start), &a4)) {
        return false;
      }
      groups[ng++] = static_cast<uint16_t>(a4 >> 16);
      groups[ng++] = static_cast<uint16_t>(a4);
      break;
    }
    if (ng == 8) return false;
    groups[ng++] = static_cast<uint16_t>(v);
    if (p == end) break;
    if (*p != ':') return false;
    ++p;
    if (p != end && *p == ':') {
      if (gap >= 0) return false;
      gap = ng;
      ++p;
    } else if (p == end) {
      return false;  // a single trailing ':'
    }
  }
  if (gap < 0 ? ng != 8 : ng > 7) return false;
  // Group i goes to position i, or past the zeros of "::".
  int zeros = gap < 0 ? 0 : 8 - ng;
  uint64_t half[2] = {0, 0};
  for (int i = 0; i < ng; ++i) {
    int pos = (gap >= 0 && i >= gap) ? i + zeros : i;
    half[pos >> 2] |= uint64_t{groups[i]} << (48 - 16 * (pos & 3));
  }
  *out = (u128{half[0]} << 64) | half[1];
  return true;
}

ParseStatus ParseAddress(const char* s, size_t n, ParsedAddress* out) {
  if (n == 0) return ParseStatus::kEmpty;
  // IPv4 first: it fails at once on IPv6 text (no IPv4 text has a ':').
  if (ParseIPv4(s, n, &out->addr4)) {
    out->v6 = false;
    return ParseStatus::kOk;
  }
  if (!HasColon(s, n) || !ParseIPv6(s, n, &out->addr6)) {
    return ParseStatus::kBadAddress;
  }
  out->v6 = true;
  return ParseStatus::kOk;
}

ParseStatus ParsePrefix(const char* s, size_t n, ParsedPrefix* out) {
  if (n == 0) return ParseStatus::kEmpty;
  size_t slash = n;
  for (size_t i = n; i > 0; --i) {
    if (s[i - 1] == '/') {
      slash = i - 1;
      break;
    }
  }
  ParsedAddress a;
  ParseStatus st = ParseAddress(s, slash, &a);
  if (st == ParseStatus::kEmpty) return ParseStatus::kBadAddress;  // "/8"
  if (st != ParseStatus::kOk) return st;
  if (slash == n) return ParseStatus::kMissingLength;
  const char* l = s + slash + 1;
  size_t ln = n - slash - 1;
  if (ln == 0 || ln > 3) return ParseStatus::kBadLength;
  if (l[0] == '0' && ln > 1) return ParseStatus::kBadLength;
  int len = 0;
  for (size_t i = 0; i < ln; ++i) {
    if (!IsDigit(l[i])) return ParseStatus::kBadLength;
    len = len * 10 + (l[i] - '0');
  }
  out->v6 = a.v6;
  if (a.v6) {
    if (len > 128) return ParseStatus::kLengthRange;
    u128 m = Mask<u128>(len);
    out->addr6 = a.addr6 & m;
    out->host_bits = out->addr6 != a.addr6;
  } else {
    if (len > 32) return ParseStatus::kLengthRange;
    uint32_t m = Mask<uint32_t>(len);
    out->addr4 = a.addr4 & m;
    out->host_bits = out->addr4 != a.addr4;
  }
  out->len = static_cast<uint8_t>(len);
  return ParseStatus::kOk;
}

std::string ParseStatusText(ParseStatus st, bool v6) {
  switch (st) {
    case ParseStatus::kOk:
      return "ok";
    case ParseStatus::kEmpty:
      return "empty string";
    case ParseStatus::kBadAddress:
      return "not an IPv4 or IPv6 address";
    case ParseStatus::kMissingLength:
      return "missing prefix length (\"/N\")";
    case ParseStatus::kBadLength:
      return "prefix length is not a decimal number";
    case ParseStatus::kLengthRange:
      return v6 ? "prefix length out of range 0-128"
                : "prefix length out of range 0-32";
  }
  return "invalid";
}

std::string FormatIPv4(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                (a >> 8) & 255, a & 255);
  return buf;
}

std::string FormatIPv6(u128 a) {
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) {
    g[i] = static_cast<uint16_t>(a >> (112 - 16 * i));
  }
  // IPv4-mapped: ::ffff:a.b.c.d
  if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 &&
      g[5] == 0xffff) {
    return "::ffff:" + FormatIPv4(static_cast<uint32_t>(a));
  }
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

std::string FormatPrefix4(uint32_t a, int len) {
  return FormatIPv4(a) + "/" + std::to_string(len);
}

std::string FormatPrefix6(u128 a, int len) {
  return FormatIPv6(a) + "/" + std::to_string(len);
}

}  // namespace route
}  // namespace vpn
