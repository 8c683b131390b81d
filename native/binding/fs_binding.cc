// Small system helpers Node lacks: an advisory lock (flock) that the
// configuration store holds while it reads, changes and rewrites its file,
// so that two processes on one state directory cannot corrupt it; and the
// credentials of a Unix socket's peer (SO_PEERCRED), which the control
// socket checks before it answers.
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"

namespace vpn {
namespace {

// lockFile(path): opens (creating, 0600) and locks path exclusively without
// blocking. Returns the fd, to be passed to unlockFile. Throws EAGAIN (code
// "EAGAIN") while another process holds the lock.
Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "lockFile(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  // open() reads up to a NUL: "a\0b" would lock "a".
  if (path.empty() || path.find('\0') != std::string::npos)
    throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                         "lockFile: the path is empty or holds a NUL");
  int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    throw SystemError(env, errno, "open", "cannot open the lock file " + path);
  while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno == EINTR) continue;
    int err = errno == EWOULDBLOCK ? EAGAIN : errno;
    ::close(fd);
    throw SystemError(env, err, "flock", "the lock file " + path + " is held");
  }
  return Napi::Number::New(env, fd);
}

void UnlockFile(const Napi::CallbackInfo& info) {
  int fd = FdArg(info.Env(), info[0], "unlockFile");
  ::close(fd);  // closing the fd releases the lock
}

// peerCredentials(fd): { pid, uid, gid } of the process at the other end of
// a connected Unix socket, as the kernel recorded them at connect().
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(env, info[0], "peerCredentials");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    throw SystemError(env, errno, "getsockopt",
                      "cannot read the peer's credentials");
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", cred.pid);
  o.Set("uid", cred.uid);
  o.Set("gid", cred.gid);
  return o;
}

// setSocketMark(fd, mark): SO_MARK on a socket (needs CAP_NET_ADMIN): the
// policy rules of a session let packets with the platform's mark skip the
// tunnel (Android's VpnService.protect).
void SetSocketMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(env, info[0], "setSocketMark");
  uint32_t mark =
      static_cast<uint32_t>(IntArg(env, info[1], "mark", 0, 0xffffffff));
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0)
    throw SystemError(env, errno, "setsockopt(SO_MARK)",
                      "cannot mark the socket");
}

}  // namespace

void InitFs(Napi::Env env, Napi::Object exports, AddonData*) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile, "lockFile"));
  exports.Set("unlockFile", Napi::Function::New(env, UnlockFile, "unlockFile"));
  exports.Set("peerCredentials",
              Napi::Function::New(env, PeerCredentials, "peerCredentials"));
  exports.Set("setSocketMark",
              Napi::Function::New(env, SetSocketMark, "setSocketMark"));
}

}  // namespace vpn
