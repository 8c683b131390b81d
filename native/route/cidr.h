// Strict text forms of addresses and prefixes, for bulk loads and lookups.
//
// IPv4: four decimal octets 0..255 without leading zeros ("1.2.3.4"; no
// "1.2.3", "01.2.3.4", "0x7f.1.1.1"). IPv6: RFC 4291 section 2.2 (one "::" at
// most, 1..4 hex digits per group, an optional trailing dotted IPv4), no zone
// ("%eth0"), no brackets. A prefix is an address, "/", and a decimal length
// without sign or leading zeros (0..32 or 0..128). Nothing else is accepted:
// no spaces anywhere, no empty string, no missing length. A prefix with host
// bits set ("10.1.2.3/8") parses, and is reported as not canonical so that
// callers can mask it, as the kernel does, and say so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "route/ip.h"

namespace vpn {
namespace route {

enum class ParseStatus : uint8_t {
  kOk = 0,
  kEmpty,          // ""
  kBadAddress,     // not an IPv4 or IPv6 address
  kMissingLength,  // no "/"
  kBadLength,      // "/", "/x", "/08", "/+8"
  kLengthRange,    // "/33" for IPv4, "/129" for IPv6
};

struct ParsedPrefix {
  bool v6 = false;
  uint8_t len = 0;
  bool host_bits = false;  // the address had bits set past len (now masked)
  uint32_t addr4 = 0;      // masked
  u128 addr6 = 0;          // masked
};

struct ParsedAddress {
  bool v6 = false;
  uint32_t addr4 = 0;
  u128 addr6 = 0;
};

// Parses exactly s[0..n). On success *out holds the masked prefix.
ParseStatus ParsePrefix(const char* s, size_t n, ParsedPrefix* out);
// Parses exactly s[0..n) as one address (no "/").
ParseStatus ParseAddress(const char* s, size_t n, ParsedAddress* out);

bool ParseIPv4(const char* s, size_t n, uint32_t* out);
bool ParseIPv6(const char* s, size_t n, u128* out);

// A short English reason for a status ("prefix length out of range 0-32").
std::string ParseStatusText(ParseStatus st, bool v6);

// Text forms: "10.0.0.0", "2001:db8::" (RFC 5952: lower case, longest run of
// two or more zero groups compressed, first one on a tie), and "<addr>/<len>".
std::string FormatIPv4(uint32_t a);
std::string FormatIPv6(u128 a);
std::string FormatPrefix4(uint32_t a, int len);
std::string FormatPrefix6(u128 a, int len);

}  // namespace route
}  // namespace vpn
