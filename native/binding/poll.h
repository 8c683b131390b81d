// An fd watched on the environment's own libuv loop, for every binding that
// waits on one (the TUN device, the network monitor, the UDP socket).
//
// What it takes care of, once for all of them:
// - a uv_poll handle on the loop of the environment that made it (the main
//   thread's or a worker's, never uv_default_loop()), unreferenced unless
//   asked, so an open fd never keeps the process alive;
// - the lifetime: Close() stops the handle and closes the fd; the object is
//   freed when libuv is done with the handle, and an async cleanup hook
//   closes it when the environment goes away first;
// - calling JS from a loop callback with raw N-API (node-addon-api must not
//   be used there: when a worker is being terminated it aborts the process):
//   a listener that throws goes to Node's uncaught-exception handling, and a
//   call that cannot run (the environment is going away) reports false.
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

namespace vpn {

class PolledFd {
 public:
  PolledFd(const PolledFd&) = delete;
  PolledFd& operator=(const PolledFd&) = delete;

  // 0, or the errno of uv_poll_init (then Close() frees the object at once).
  int init_error() const { return init_error_; }
  bool closing() const { return closing_; }

  // Idempotent. Releases the JS references (OnClose), stops watching, closes
  // the fd (CloseFd); the object is deleted once libuv has closed the handle.
  void Close();

  // Keep the process alive while watching (ref) or not (the default).
  void SetRef(bool ref);

 protected:
  // resource: the async resource name callbacks run under ("vpn-provider:tun").
  PolledFd(Napi::Env env, int fd, const char* resource);
  virtual ~PolledFd();

  // The loop says the fd is readable / writable (events: UV_READABLE |
  // UV_WRITABLE), or polling failed (status < 0, a libuv error: POLLERR
  // comes as UV_EBADF, and the handle is stopped until Watch() again).
  virtual void OnEvents(int status, int events) = 0;
  // Close() started: drop JS references here.
  virtual void OnClose() {}
  // Close the fd (the handle no longer watches it). Default: close(fd).
  virtual void CloseFd();

  // Which events to watch: UV_READABLE | UV_WRITABLE, or 0 for none.
  void Watch(int events);

  // Calls fn(argv...) from a loop callback (global receiver, the object's
  // async context). False if JS could not run; an exception thrown by fn is
  // handed to process 'uncaughtException' and counts as having run.
  bool CallJs(const Napi::FunctionReference& fn, size_t argc,
              const napi_value* argv);

  Napi::Env env() const { return env_; }
  int fd() const { return fd_; }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg);

  Napi::Env env_;
  int fd_;
  uv_poll_t poll_;
  bool ready_ = false;  // poll_ initialized: freed through uv_close
  bool closing_ = false;
  int init_error_ = 0;
  int events_ = 0;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace vpn
