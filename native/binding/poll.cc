#include "binding/poll.h"

#include <unistd.h>

namespace vpn {

PolledFd::PolledFd(Napi::Env env, int fd, const char* resource)
    : env_(env), fd_(fd) {
  context_ = std::make_unique<Napi::AsyncContext>(env, resource);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  int r = uv_poll_init(loop, &poll_, fd);
  if (r < 0) {
    init_error_ = -r;
    return;
  }
  poll_.data = this;
  ready_ = true;
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_);
}

PolledFd::~PolledFd() {
  if (cleanup_) napi_remove_async_cleanup_hook(cleanup_);
}

void PolledFd::Close() {
  if (closing_) return;
  closing_ = true;
  OnClose();
  context_.reset();
  if (ready_) uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
  CloseFd();
  fd_ = -1;
  if (!ready_) delete this;
}

void PolledFd::CloseFd() {
  if (fd_ >= 0) ::close(fd_);
}

void PolledFd::SetRef(bool ref) {
  if (!ready_ || closing_) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&poll_);
  if (ref) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void PolledFd::Watch(int events) {
  if (closing_ || !ready_ || events == events_) return;
  events_ = events;
  if (events) {
    uv_poll_start(&poll_, events, OnPoll);
  } else {
    uv_poll_stop(&poll_);
  }
}

bool PolledFd::CallJs(const Napi::FunctionReference& fn, size_t argc,
                      const napi_value* argv) {
  if (fn.IsEmpty() || !context_) return false;
  napi_value global, result;
  napi_status s = napi_get_global(env_, &global);
  if (s == napi_ok)
    s = napi_make_callback(env_, *context_, global, fn.Value(), argc, argv,
                           &result);
  if (s == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env_, &pending);
  if (!pending) return false;
  napi_value err;
  if (napi_get_and_clear_last_exception(env_, &err) == napi_ok)
    napi_fatal_exception(env_, err);
  return true;
}

void PolledFd::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<PolledFd*>(handle->data);
  if (self->closing_) return;
  // On POLLERR libuv stops the handle before it calls back: Watch() must
  // start it again.
  if (status < 0) self->events_ = 0;
  Napi::HandleScope scope(self->env_);
  self->OnEvents(status, events);
}

void PolledFd::OnClosed(uv_handle_t* handle) {
  delete static_cast<PolledFd*>(handle->data);
}

void PolledFd::OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
  static_cast<PolledFd*>(arg)->Close();
}

}  // namespace vpn
