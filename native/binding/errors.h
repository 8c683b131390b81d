// Errors that cross the N-API boundary. Native code never prints; every
// failure becomes a JS Error carrying `errno`, a string `code` and `syscall`.
#pragma once

#include <napi.h>

#include <string>

namespace vpn {

// An Error for a failed system call: message "<what>: <strerror> (<CODE>)",
// with err.errno (negative, as Node does), err.code ("EPERM") and err.syscall.
Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                        const std::string& what);

// The same as a plain napi_value, built with raw N-API and no C++ exception:
// for callbacks from the loop, where JS may not be able to run (a worker
// being terminated). nullptr if it could not be built.
napi_value SystemErrorValue(napi_env env, int err, const char* syscall,
                            const std::string& what);

// An Error with a string code and no errno (bad input, wrong state).
Napi::Error CodedError(Napi::Env env, const char* code,
                       const std::string& message);
Napi::Error CodedTypeError(Napi::Env env, const char* code,
                           const std::string& message);
Napi::Error CodedRangeError(Napi::Env env, const char* code,
                            const std::string& message);

// "EPERM" for EPERM and so on; "E<number>" for an errno it does not know.
std::string ErrnoCode(int err);

}  // namespace vpn
