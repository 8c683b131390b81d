// The network monitor's native side: an rtnetlink socket subscribed to link
// and route changes, polled on the environment's own loop. It tells JS only
// that something changed (once per wake-up); JS then asks for the default
// route (defaultRoute) and decides what it means. Unreferenced, closed by an
// async cleanup hook, like the TUN device.
#include <arpa/inet.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "binding/addon.h"
#include "binding/errors.h"
#include "netlink/netlink.h"

namespace vpn {
namespace {

class MonitorCore {
 public:
  MonitorCore(Napi::Env env, int fd, Napi::Function cb) : env_(env), fd_(fd) {
    cb_ = Napi::Persistent(cb);
    context_ =
        std::make_unique<Napi::AsyncContext>(env, "vpn-provider:monitor");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    init_error_ = -uv_poll_init(loop, &poll_, fd);
    if (init_error_) return;
    poll_.data = this;
    ready_ = true;
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
    uv_poll_start(&poll_, UV_READABLE, OnPoll);
    napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_);
  }

  int init_error() const { return init_error_; }

  void Close() {
    if (closing_) return;
    closing_ = true;
    cb_.Reset();
    context_.reset();
    if (ready_) uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!ready_) delete this;
  }

 private:
  static void OnPoll(uv_poll_t* h, int status, int) {
    auto* m = static_cast<MonitorCore*>(h->data);
    if (m->closing_) return;
    int n = status < 0 ? 1 : netlink::DrainMonitor(m->fd_, &m->buf_);
    if (n == -EAGAIN) return;
    Napi::HandleScope scope(m->env_);
    napi_value global, result;
    if (napi_get_global(m->env_, &global) != napi_ok) return;
    if (napi_make_callback(m->env_, *m->context_, global, m->cb_.Value(), 0,
                           nullptr, &result) != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(m->env_, &pending);
      napi_value err;
      if (pending &&
          napi_get_and_clear_last_exception(m->env_, &err) == napi_ok)
        napi_fatal_exception(m->env_, err);
    }
  }

  static void OnClosed(uv_handle_t* h) {
    auto* m = static_cast<MonitorCore*>(h->data);
    if (m->cleanup_) napi_remove_async_cleanup_hook(m->cleanup_);
    delete m;
  }

  static void OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
    static_cast<MonitorCore*>(arg)->Close();
  }

  Napi::Env env_;
  int fd_;
  uv_poll_t poll_;
  bool ready_ = false;
  bool closing_ = false;
  int init_error_ = 0;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::vector<uint8_t> buf_;
};

class Monitor : public Napi::ObjectWrap<Monitor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Monitor",
                       {InstanceMethod<&Monitor::Close>("close")});
  }

  // new Monitor(onChange): calls onChange() when links or routes change.
  explicit Monitor(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Monitor>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction())
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "new Monitor(onChange)");
    int fd = -1;
    int r = netlink::OpenMonitor(&fd);
    if (r < 0)
      throw SystemError(env, -r, "socket", "cannot open the network monitor");
    core_ = new MonitorCore(env, fd, info[0].As<Napi::Function>());
    if (int err = core_->init_error()) {
      core_->Close();
      core_ = nullptr;
      throw SystemError(env, err, "uv_poll_init",
                        "cannot poll the network monitor");
    }
  }

  ~Monitor() override {
    if (core_) core_->Close();
  }

 private:
  void Close(const Napi::CallbackInfo&) {
    if (core_) core_->Close();
    core_ = nullptr;
  }

  MonitorCore* core_ = nullptr;
};

class DefaultRouteWorker : public Napi::AsyncWorker {
 public:
  DefaultRouteWorker(Napi::Env env, int family)
      : Napi::AsyncWorker(env, "vpn-provider:defaultRoute"),
        deferred_(Napi::Promise::Deferred::New(env)),
        family_(family) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    err_ = netlink::GetDefaultRoute(family_, &route_, &found_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ < 0) {
      deferred_.Reject(
          SystemError(env, -err_, "netlink", "cannot read the default route")
              .Value());
      return;
    }
    if (!found_) {
      deferred_.Resolve(env.Null());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("ifindex", route_.oif);
    o.Set("metric", route_.metric);
    if (route_.has_gateway) {
      char text[INET6_ADDRSTRLEN];
      inet_ntop(family_, route_.gateway, text, sizeof text);
      o.Set("gateway", text);
    }
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int family_;
  netlink::DefaultRoute route_;
  bool found_ = false;
  int err_ = 0;
};

Napi::Value DefaultRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family = info.Length() > 0 && info[0].IsNumber()
                   ? info[0].As<Napi::Number>().Int32Value()
                   : 4;
  if (family != 4 && family != 6)
    throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                         "defaultRoute(family): family must be 4 or 6");
  auto* w = new DefaultRouteWorker(env, family == 4 ? AF_INET : AF_INET6);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitMonitor(Napi::Env env, Napi::Object exports, AddonData*) {
  exports.Set("Monitor", Monitor::Define(env));
  exports.Set("defaultRoute",
              Napi::Function::New(env, DefaultRoute, "defaultRoute"));
}

}  // namespace vpn
