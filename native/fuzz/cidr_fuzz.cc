// libFuzzer target for the CIDR and address parser (native/route/cidr.cc):
// no crash or overread on any input, and whatever parses formats back to
// text that parses to the same prefix.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "route/cidr.h"

// The route sources are compiled into the target itself, so that they get
// libFuzzer's coverage instrumentation (vpn_core is built without it); the
// copies in vpn_core are then never pulled from the archive.
#include "route/cidr.cc"  // NOLINT(build/include)

using namespace vpn::route;

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
