#include "binding/errors.h"

#include <string.h>

#include <cerrno>

namespace vpn {

std::string ErrnoCode(int err) {
  switch (err) {
#define C(e) \
  case e:    \
    return #e;
    C(EPERM)
    C(ENOENT)
    C(EINTR)
    C(EIO)
    C(ENXIO)
    C(EBADF)
    C(EAGAIN)
    C(ENOMEM)
    C(EACCES)
    C(EFAULT)
    C(EBUSY)
    C(EEXIST)
    C(ENODEV)
    C(ENOTDIR)
    C(EINVAL)
    C(ENFILE)
    C(EMFILE)
    C(ENOSPC)
    C(EROFS)
    C(EPIPE)
    C(ERANGE)
    C(EMSGSIZE)
    C(EPROTONOSUPPORT)
    C(EOPNOTSUPP)
    C(EAFNOSUPPORT)
    C(EADDRINUSE)
    C(EADDRNOTAVAIL)
    C(ENETDOWN)
    C(ENETUNREACH)
    C(ECONNRESET)
    C(ENOBUFS)
    C(ETIMEDOUT)
    C(ECONNREFUSED)
    C(EHOSTUNREACH)
    C(ESRCH)
    C(ENOTTY)
    C(EBADFD)
#undef C
    default:
      return "E" + std::to_string(err);
  }
}

namespace {
std::string Describe(int err, const std::string& what) {
  char buf[128];
  const char* text = strerror_r(err, buf, sizeof buf);
  return what + ": " + text + " (" + ErrnoCode(err) + ")";
}
}  // namespace

Napi::Error SystemError(Napi::Env env, int err, const char* syscall,
                        const std::string& what) {
  Napi::Error e = Napi::Error::New(env, Describe(err, what));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("code", Napi::String::New(env, ErrnoCode(err)));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

napi_value SystemErrorValue(napi_env env, int err, const char* syscall,
                            const std::string& what) {
  std::string message = Describe(err, what);
  std::string code = ErrnoCode(err);
  napi_value msg, code_v, errno_v, syscall_v, e;
  if (napi_create_string_utf8(env, message.data(), message.size(), &msg) !=
          napi_ok ||
      napi_create_string_utf8(env, code.data(), code.size(), &code_v) !=
          napi_ok ||
      napi_create_int32(env, -err, &errno_v) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v) !=
          napi_ok ||
      napi_create_error(env, code_v, msg, &e) != napi_ok ||
      napi_set_named_property(env, e, "errno", errno_v) != napi_ok ||
      napi_set_named_property(env, e, "syscall", syscall_v) != napi_ok) {
    return nullptr;
  }
  return e;
}

namespace {
template <typename E>
E WithCode(E e, Napi::Env env, const char* code) {
  e.Set("code", Napi::String::New(env, code));
  return e;
}
}  // namespace

Napi::Error CodedError(Napi::Env env, const char* code,
                       const std::string& message) {
  return WithCode(Napi::Error::New(env, message), env, code);
}

Napi::Error CodedTypeError(Napi::Env env, const char* code,
                           const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), env, code);
}

Napi::Error CodedRangeError(Napi::Env env, const char* code,
                            const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), env, code);
}

}  // namespace vpn
