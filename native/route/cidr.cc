#include "route/cidr.h"

#include <cstdio>

namespace vpn {
namespace route {

namespace {

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool HasColon(const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == ':') return true;
  }
  return false;
}

}  // namespace

bool ParseIPv4(const char* s, size_t n, uint32_t* out) {
  uint32_t acc = 0;
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (i >= n || !IsDigit(s[i])) return false;
    if (s[i] == '0' && i + 1 < n && IsDigit(s[i + 1])) return false;
    uint32_t v = 0;
    int digits = 0;
    while (i < n && IsDigit(s[i])) {
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

bool ParseIPv6(const char* s, size_t n, u128* out) {
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
      int h = HexValue(s[i]);
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
      if (ng > 6 || !ParseIPv4(s + start, n - start, &a4)) return false;
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

ParseStatus ParseAddress(const char* s, size_t n, ParsedAddress* out) {
  if (n == 0) return ParseStatus::kEmpty;
  if (HasColon(s, n)) {
    if (!ParseIPv6(s, n, &out->addr6)) return ParseStatus::kBadAddress;
    out->v6 = true;
  } else {
    if (!ParseIPv4(s, n, &out->addr4)) return ParseStatus::kBadAddress;
    out->v6 = false;
  }
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
