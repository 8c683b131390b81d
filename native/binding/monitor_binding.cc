// The network monitor's native side: an rtnetlink socket subscribed to link
// and route changes, polled on the environment's own loop. It tells JS only
// that something changed (once per wake-up); JS then asks for the default
// route (defaultRoute) and decides what it means. Unreferenced, closed by an
// async cleanup hook, like the TUN device.
#include <arpa/inet.h>
#include <errno.h>

#include <vector>

#include "binding/addon.h"
#include "binding/errors.h"
#include "binding/poll.h"
#include "netlink/netlink.h"

namespace vpn {
namespace {

class MonitorCore : public PolledFd {
 public:
  // *owner_slot (the JS object's pointer) is cleared when this is freed:
  // the environment's cleanup may close and free it before the finalizer.
  MonitorCore(Napi::Env env, int fd, Napi::Function cb,
              MonitorCore** owner_slot)
      : PolledFd(env, fd, "vpn-provider:monitor"),
        cb_(Napi::Persistent(cb)),
        owner_slot_(owner_slot) {
    Watch(UV_READABLE);
  }
  void Disown() { owner_slot_ = nullptr; }

 private:
  ~MonitorCore() override {
    if (owner_slot_) *owner_slot_ = nullptr;
  }
  void OnEvents(int status, int) override {
    // An error (the kernel dropped messages: ENOBUFS) means "something
    // changed" too; and the watch goes on.
    // Reading clears the socket's error, so it does not fire at once again.
    int n = netlink::DrainMonitor(fd(), &buf_);
    if (status < 0) {
      Watch(UV_READABLE);
      n = 1;
    }
    if (n == -EAGAIN) return;
    CallJs(cb_, 0, nullptr);
  }
  void OnClose() override { cb_.Reset(); }

  Napi::FunctionReference cb_;
  MonitorCore** owner_slot_;
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
    core_ = new MonitorCore(env, fd, info[0].As<Napi::Function>(), &core_);
    if (int err = core_->init_error()) {
      core_->Close();  // frees it and clears core_
      throw SystemError(env, err, "uv_poll_init",
                        "cannot poll the network monitor");
    }
  }

  ~Monitor() override {
    if (core_) {
      core_->Disown();
      core_->Close();
    }
  }

 private:
  void Close(const Napi::CallbackInfo&) {
    if (core_) core_->Close();
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
