#include "binding/reader.h"

#include <errno.h>

namespace vpn {

namespace {
// Full batches delivered per wake-up before the loop gets control back:
// while batches come back full the kernel has more, and delivering a few
// saves an epoll round trip and a loop iteration each, yet lets other
// handles run every few thousand packets.
constexpr int kBatchesPerWake = 8;
}  // namespace

PolledReader::PolledReader(Napi::Env env, int fd, const char* resource,
                           size_t bytes, PolledReader** owner_slot)
    : PolledFd(env, fd, resource),
      owner_slot_(owner_slot),
      buffer_(Napi::Persistent(Napi::ArrayBuffer::New(env, bytes))),
      data_(static_cast<uint8_t*>(buffer_.Value().Data())) {}

PolledReader::~PolledReader() {
  if (owner_slot_) *owner_slot_ = nullptr;
}

void PolledReader::Start(Napi::Function dispatch, Napi::Function on_error) {
  dispatch_ = Napi::Persistent(dispatch);
  on_error_ = Napi::Persistent(on_error);
  reading_ = true;
  Update();
}

void PolledReader::SetPaused(bool paused) {
  paused_ = paused;
  Update();
}

void PolledReader::WaitWritable(Napi::Function cb) {
  on_writable_ = Napi::Persistent(cb);
  want_write_ = true;
  Update();
}

int PolledReader::OnPollError(int status) {
  // libuv reports POLLERR as EBADF; a read tells the kernel's reason (a
  // deleted interface: EBADFD). Where the read still says EAGAIN the
  // poll's error it is.
  if (reading()) Read();
  if (!closing() && reading_) Fail(-status, "poll", "polling the fd failed");
  return 0;
}

void PolledReader::OnEvents(int status, int events) {
  if (status < 0) {
    events = OnPollError(status);
    if (closing()) return;
    Update();  // libuv stopped the handle
  }
  if ((events & UV_WRITABLE) && want_write_) Writable();
  for (int i = 0; i < kBatchesPerWake; ++i) {
    if (!(events & UV_READABLE) || closing() || !reading()) break;
    if (!Read()) break;
  }
}

bool PolledReader::Dispatch(size_t argc, const napi_value* argv) {
  if (!CallJs(dispatch_, argc, argv)) {
    Stop();  // JS cannot run: the environment is going away
    return false;
  }
  return !closing() && reading() && Usable("read");
}

// JS may detach (transfer) the receive buffer during a listener call; then
// its memory is no longer ours to write.
bool PolledReader::Usable(const char* syscall) {
  if (!buffer_.Value().IsDetached()) return true;
  Fail(EINVAL, syscall, "the receive buffer was detached (transferred) by JS");
  return false;
}

void PolledReader::Fail(int err, const char* syscall, const char* what) {
  Stop();
  if (on_error_.IsEmpty()) return;
  napi_value e = SystemErrorValue(env(), err, syscall, what);
  Napi::FunctionReference cb = std::move(on_error_);
  if (e) CallJs(cb, 1, &e);
}

void PolledReader::OnClose() {
  dispatch_.Reset();
  on_error_.Reset();
  on_writable_.Reset();
  buffer_.Reset();
}

void PolledReader::Update() {
  int events = 0;
  if (reading()) events |= UV_READABLE;
  if (want_write_) events |= UV_WRITABLE;
  if (!events && reading_) events = IdleEvents();
  Watch(events);
}

void PolledReader::Stop() {
  reading_ = false;
  want_write_ = false;
  Update();
}

void PolledReader::Writable() {
  want_write_ = false;
  Update();
  Napi::FunctionReference cb = std::move(on_writable_);
  CallJs(cb, 0, nullptr);
}

}  // namespace vpn
