// What the TUN queue and the UDP socket share on the loop, over PolledFd:
// a receive buffer JS reads packets from (one ArrayBuffer, whose memory the
// engine writes into), reading while JS listens (paused otherwise), one JS
// call per batch, a failure reported once (then reading stops), waiting for
// POLLOUT on behalf of a send that met EAGAIN; and the methods their JS
// objects share (ReaderWrap).
#pragma once

#include <napi.h>

#include <string>

#include "binding/errors.h"
#include "binding/poll.h"

namespace vpn {

class PolledReader : public PolledFd {
 public:
  Napi::ArrayBuffer buffer() const { return buffer_.Value(); }
  // The engine writes here; V8 never moves a backing store, so the pointer
  // holds while the buffer is ours.
  uint8_t* data() const { return data_; }

  // Reading starts: dispatch(...) once per batch, onError(err) once.
  void Start(Napi::Function dispatch, Napi::Function on_error);
  void SetPaused(bool paused);
  // cb() once when the fd is writable again.
  void WaitWritable(Napi::Function cb);
  // The JS object is being finalized: do not clear its pointer later.
  void Disown() { owner_slot_ = nullptr; }

 protected:
  // owner_slot: the JS object's pointer to this, cleared when this goes
  // (the environment's cleanup may close and free it before the finalizer).
  PolledReader(Napi::Env env, int fd, const char* resource, size_t bytes,
               PolledReader** owner_slot);
  ~PolledReader() override;

  // One read round, delivering through Dispatch; true if more may wait.
  virtual bool Read() = 0;
  // Polling said POLLERR. Returns the events to go on with (0: none).
  // Default: the read side failed.
  virtual int OnPollError(int status);
  // What to watch while started but paused (0: nothing).
  virtual int IdleEvents() const { return 0; }

  // Calls dispatch; false if the round must stop (closed, paused by JS,
  // the buffer taken away, or JS unable to run).
  bool Dispatch(size_t argc, const napi_value* argv);
  // False (and the failure reported) if JS detached the receive buffer.
  bool Usable(const char* syscall);
  void Fail(int err, const char* syscall, const char* what);
  bool reading() const { return reading_ && !paused_; }
  bool started() const { return reading_; }
  void OnClose() override;
  void Update();

 private:
  void OnEvents(int status, int events) final;
  void Stop();
  void Writable();

  PolledReader** owner_slot_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  uint8_t* data_;
  bool reading_ = false;
  bool paused_ = false;
  bool want_write_ = false;
  Napi::FunctionReference dispatch_;
  Napi::FunctionReference on_error_;
  Napi::FunctionReference on_writable_;
};

// The methods a reader's JS object shares with the other's: start, pause,
// resume, ref, unref, waitWritable, close, closed. Derived classes
// (CRTP) give the code and message of "closed" (kClosedCode,
// kClosedMessage) and list ReaderProperties() in DefineClass.
template <typename T>
class ReaderWrap : public Napi::ObjectWrap<T> {
 public:
  using Napi::ObjectWrap<T>::ObjectWrap;
  ~ReaderWrap() override {
    if (core_) {
      core_->Disown();
      core_->Close();
    }
  }

 protected:
  using Prop = Napi::ClassPropertyDescriptor<T>;
  static void AddReaderProperties(std::vector<Prop>* props) {
    using W = Napi::ObjectWrap<T>;
    props->push_back(
        W::InstanceAccessor("closed", &ReaderWrap::Closed, nullptr));
    props->push_back(W::InstanceMethod("start", &ReaderWrap::Start));
    props->push_back(W::InstanceMethod("pause", &ReaderWrap::Pause));
    props->push_back(W::InstanceMethod("resume", &ReaderWrap::Resume));
    props->push_back(W::InstanceMethod("ref", &ReaderWrap::Ref));
    props->push_back(W::InstanceMethod("unref", &ReaderWrap::Unref));
    props->push_back(
        W::InstanceMethod("waitWritable", &ReaderWrap::WaitWritable));
    props->push_back(W::InstanceMethod("close", &ReaderWrap::Close));
  }

  // The core, or the "closed" error of the derived class.
  PolledReader* Live(Napi::Env env) {
    if (!open()) throw CodedError(env, T::kClosedCode, T::kClosedMessage);
    return core_;
  }
  bool open() const { return core_ && !core_->closing(); }

  PolledReader* core_ = nullptr;  // freed after libuv closes it: cleared then

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !open());
  }
  // start(dispatch, onError, ...more): the derived class's Start takes
  // what follows (UDP: onPeerErrors).
  void Start(const Napi::CallbackInfo& info) {
    PolledReader* c = Live(info.Env());
    for (size_t i = 0; i < T::kStartArgs; ++i)
      if (info.Length() <= i || !info[i].IsFunction())
        throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                             T::kStartUsage);
    static_cast<T*>(this)->StartMore(info);
    c->Start(info[0].As<Napi::Function>(), info[1].As<Napi::Function>());
  }
  void Pause(const Napi::CallbackInfo& info) {
    Live(info.Env())->SetPaused(true);
  }
  void Resume(const Napi::CallbackInfo& info) {
    Live(info.Env())->SetPaused(false);
  }
  void Ref(const Napi::CallbackInfo& info) { Live(info.Env())->SetRef(true); }
  void Unref(const Napi::CallbackInfo& info) {
    Live(info.Env())->SetRef(false);
  }
  void WaitWritable(const Napi::CallbackInfo& info) {
    PolledReader* c = Live(info.Env());
    if (info.Length() < 1 || !info[0].IsFunction())
      throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                           "waitWritable(callback)");
    c->WaitWritable(info[0].As<Napi::Function>());
  }
  void Close(const Napi::CallbackInfo&) {
    if (open()) core_->Close();
  }
};

}  // namespace vpn
