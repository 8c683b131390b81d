// Argument checks shared by every binding: each turns a JS value into a C++
// one or throws a TypeError / RangeError with a string `code`
// (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_INVALID_IP...) and a message
// that names the argument.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "route/cidr.h"

namespace vpn {

// Bytes of the caller's memory.
struct ByteSpan {
  const uint8_t* data;
  size_t len;
};

// The bytes of an ArrayBuffer, a typed array or a DataView (also over a
// SharedArrayBuffer): ERR_INVALID_ARG_TYPE for anything else,
// ERR_BUFFER_DETACHED for a detached one. `what` names it ("packet").
ByteSpan BytesArg(napi_env env, napi_value v, const char* what);

// An fd: a number that is an integer from 0 to INT_MAX (Int32Value would
// make NaN fd 0: never wrap or close what was not given).
int FdArg(Napi::Env env, Napi::Value v, const char* call);

// info[0] as an object, else ERR_INVALID_ARG_TYPE with `usage`.
Napi::Object ObjectArg(const Napi::CallbackInfo& info, const char* usage);

// An integer in [lo, hi]: ERR_INVALID_ARG_TYPE if v is not a number,
// ERR_OUT_OF_RANGE "<name> must be an integer from lo to hi" otherwise.
int64_t IntArg(Napi::Env env, Napi::Value v, const char* name, int64_t lo,
               int64_t hi);
// The same for an optional property: `fallback` when it is undefined.
int64_t IntProp(Napi::Env env, Napi::Object o, const char* key, int64_t lo,
                int64_t hi, int64_t fallback);
// An optional boolean property: -1 undefined, 0 false, 1 true.
int BoolProp(Napi::Env env, Napi::Object o, const char* key);

// A typed array of the type wanted, else ERR_INVALID_ARG_TYPE "The <what>".
// Raw N-API: usable from the route table's hot functions.
void* TypedArg(napi_env env, napi_value v, napi_typedarray_type want,
               size_t* length, const char* what);

// Short ASCII texts (addresses, prefixes): copied into buf (kMaxText bytes,
// NUL-terminated); *n the length, kMaxText - 1 or more meaning "longer than
// any valid one". Read as UTF-16 and narrowed: V8 copies a one-byte string
// without the UTF-8 encoder (~3x fewer instructions), and a character past
// ASCII becomes a byte no parser accepts. napi_string_expected when v is not
// a string.
constexpr size_t kMaxText = 64;
napi_status ReadAscii(napi_env env, napi_value v, char* buf, size_t* n);
// "\"<text>\"", cut at 60 characters, for messages.
std::string Quote(const char* s, size_t n);

// An IP address given as text, parsed by route/cidr (the one parser of the
// native side): ERR_INVALID_ARG_TYPE if not a string, ERR_INVALID_IP
// "<name> is not a valid IPv4/IPv6/IP address" if it does not parse or is
// not of `family` (0: either, 4, 6).
route::ParsedAddress IpArg(Napi::Env env, Napi::Value v, const char* name,
                           int family);

}  // namespace vpn
