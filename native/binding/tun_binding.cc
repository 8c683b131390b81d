// TUN device binding: N-API glue over tun::Queue (native/tun/queue.h, where
// the packet path is explained). Here: the receive memory as one
// ArrayBuffer that JS reads packets from, the fd watched on the loop
// (binding/poll.h), one JS call per delivered batch, and argument
// conversion for the write side.
//
// A reader thread feeding a pool of slabs through uv_async_send was measured
// against polling on the loop's own thread (bench/packet, at commit 8e4c938)
// and lost: 0.75-0.79x the C read loop against 0.84-0.92x, with more CPU per
// packet.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "binding/reader.h"
#include "tun/queue.h"

namespace vpn {
namespace {

size_t Align8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

class TunCore : public PolledReader, public tun::QueueSink {
 public:
  // counters belong to the JS object (Tun): the queue writes them only
  // while open.
  TunCore(Napi::Env env, int fd, const tun::QueueLayout& layout,
          unsigned offloads, bool super_packets, uint64_t* counters,
          PolledReader** owner_slot)
      : PolledReader(env, fd, "vpn-provider:tun", layout.total(), owner_slot),
        queue_(fd, data(), layout, offloads, super_packets, counters) {}

  tun::Queue& queue() { return queue_; }

  // tun::QueueSink: one JS call per batch, dispatch(count, kind, gso).
  bool Deliver(uint32_t count, tun::MetaKind kind, uint32_t gso) override {
    napi_value args[3];
    napi_env e = env();
    if (napi_create_uint32(e, count, &args[0]) != napi_ok ||
        napi_create_uint32(e, static_cast<uint32_t>(kind), &args[1]) !=
            napi_ok ||
        napi_create_uint32(e, gso, &args[2]) != napi_ok)
      return false;
    return Dispatch(3, args);
  }

 private:
  void CloseFd() override { queue_.Close(); }

  // While the kernel unregisters a deleted interface, poll says POLLERR
  // before the queue is detached and a read still says EAGAIN: then the
  // poll's error it is, counted as the read side's failure all the same.
  int OnPollError(int status) override {
    if (reading()) Read();
    if (!closing() && started()) {
      queue_.Count(tun::kReadErrors);
      Fail(-status, "poll", "polling the device failed");
    }
    return 0;
  }

  bool Read() override {
    if (!Usable("read")) return false;
    tun::ReceiveResult r = queue_.Receive(this);
    if (r.stopped || closing()) return false;
    if (r.error) {
      Fail(r.error, "read", "reading from the device failed");
      return false;
    }
    return r.more;
  }

  tun::Queue queue_;
};

class Tun : public ReaderWrap<Tun> {
 public:
  static constexpr const char* kClosedCode = "ERR_DEVICE_CLOSED";
  static constexpr const char* kClosedMessage = "The device is closed.";
  static constexpr size_t kStartArgs = 2;
  static constexpr const char* kStartUsage = "start(dispatch, onError)";
  void StartMore(const Napi::CallbackInfo&) {}

  static Napi::Function Define(Napi::Env env) {
    std::vector<Prop> props = {
        InstanceAccessor<&Tun::Fd>("fd"),
        InstanceAccessor<&Tun::Slab>("slab"),
        InstanceAccessor<&Tun::Meta>("meta"),
        InstanceAccessor<&Tun::GsoMeta>("gso"),
        InstanceAccessor<&Tun::SplitMeta>("splitMeta"),
        InstanceAccessor<&Tun::Offloads>("offloads"),
        InstanceAccessor<&Tun::BatchSize>("batchSize"),
        InstanceMethod<&Tun::Write>("write"),
        InstanceMethod<&Tun::WriteBatch>("writeBatch"),
        InstanceMethod<&Tun::WriteFrom>("writeFrom"),
        InstanceMethod<&Tun::Split>("split"),
        InstanceMethod<&Tun::Counters>("counters"),
    };
    AddReaderProperties(&props);
    return DefineClass(env, "Tun", props);
  }

  // new Tun(fd, { batchSize, slabSize, offloads?, superPackets?, splitSize?,
  // splitSlots?, headroom?, tailroom? }): takes ownership of fd. offloads:
  // the TUN_F_* flags in force on a fd opened with IFF_VNET_HDR (0: a plain
  // packet fd). headroom / tailroom: free bytes kept around each packet.
  explicit Tun(const Napi::CallbackInfo& info) : ReaderWrap<Tun>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsObject())
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "new Tun(fd, { batchSize, slabSize })");
    int fd = FdArg(env, info[0], "new Tun(fd)");
    Napi::Object o = info[1].As<Napi::Object>();
    constexpr int64_t kMinArea = tun::kMaxPacket + 8, kMaxArea = 64 << 20;
    tun::QueueLayout layout;
    layout.batch = static_cast<uint32_t>(
        IntArg(env, o.Get("batchSize"), "batchSize", 1, 4096));
    layout.slab = Align8(static_cast<size_t>(
        IntArg(env, o.Get("slabSize"), "slabSize", kMinArea, kMaxArea)));
    auto offloads =
        static_cast<unsigned>(IntProp(env, o, "offloads", 0, 0xff, 0));
    if (offloads != 0) {
      layout.split = Align8(static_cast<size_t>(
          IntArg(env, o.Get("splitSize"), "splitSize", kMinArea, kMaxArea)));
      layout.split_slots = static_cast<uint32_t>(
          IntArg(env, o.Get("splitSlots"), "splitSlots", 64, 65535));
    }
    bool super_packets = BoolProp(env, o, "superPackets") == 1;
    layout.room.head =
        static_cast<size_t>(IntProp(env, o, "headroom", 0, 4096, 0));
    layout.room.tail =
        static_cast<size_t>(IntProp(env, o, "tailroom", 0, 4096, 0));
    // One read of the largest packet, with its room and header, must fit.
    size_t min_area =
        layout.room.head + 16 + tun::kMaxVnetRead + layout.room.tail;
    if (layout.slab < min_area || (offloads && layout.split < min_area))
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "slabSize and splitSize must hold one largest "
                            "packet with its room: at least " +
                                std::to_string(min_area) + " bytes");
    batch_size_ = layout.batch;
    core_ = new TunCore(env, fd, layout, offloads, super_packets, counters_,
                        &core_);
    if (int err = core_->init_error()) {
      core_->Close();  // frees it and clears core_
      throw SystemError(env, err, "uv_poll_init", "cannot poll this fd");
    }
    Napi::ArrayBuffer ab = core_->buffer();
    slab_ = Napi::Persistent(ab);
    meta_ = Napi::Persistent(
        Napi::Int32Array::New(env, 2 * batch_size_, ab, layout.meta_at()));
    if (offloads != 0) {
      gso_ = Napi::Persistent(
          Napi::Uint16Array::New(env, 8 * batch_size_, ab, layout.gso_at()));
      split_meta_ = Napi::Persistent(Napi::Int32Array::New(
          env, 2 * size_t{layout.split_slots}, ab, layout.split_meta_at()));
    }
  }

 private:
  TunCore* tun() const { return static_cast<TunCore*>(core_); }
  TunCore* LiveTun(Napi::Env env) { return static_cast<TunCore*>(Live(env)); }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), open() ? tun()->queue().fd() : -1);
  }
  Napi::Value Slab(const Napi::CallbackInfo&) { return slab_.Value(); }
  Napi::Value Meta(const Napi::CallbackInfo&) { return meta_.Value(); }
  Napi::Value GsoMeta(const Napi::CallbackInfo& info) {
    return gso_.IsEmpty() ? info.Env().Null() : gso_.Value();
  }
  Napi::Value SplitMeta(const Napi::CallbackInfo& info) {
    return split_meta_.IsEmpty() ? info.Env().Null() : split_meta_.Value();
  }
  Napi::Value Offloads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_ ? tun()->queue().offloads() : 0);
  }
  Napi::Value BatchSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), batch_size_);
  }
  // split(start): consumed * 65536 + segments made (see Queue::Split).
  Napi::Value Split(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TunCore* c = LiveTun(env);
    if (!c->queue().vnet())
      throw CodedError(env, "ERR_NO_OFFLOAD",
                       "This device has no offloads: its packets are "
                       "wire-size already.");
    if (c->buffer().IsDetached())
      throw CodedError(env, "ERR_BUFFER_DETACHED",
                       "The receive buffer was detached (transferred) by JS.");
    if (info.Length() < 1 || !info[0].IsNumber())
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "split(start): start is not a packet index");
    auto start = static_cast<uint32_t>(
        IntArg(env, info[0], "split(start): start", 0, 65535));
    tun::SplitResult r = c->queue().Split(start);
    return Napi::Number::New(env, r.consumed * 65536.0 + r.made);
  }

  [[noreturn]] static void ThrowFault(Napi::Env env, const tun::PacketFault& f,
                                      bool with_index) {
    Napi::Error e = f.range ? CodedRangeError(env, f.code, f.why)
                            : CodedError(env, f.code, f.why);
    if (with_index)
      e.Set("index", Napi::Number::New(env, static_cast<double>(f.index)));
    throw e;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TunCore* c = LiveTun(env);
    if (info.Length() < 1)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", "write(packet)");
    ByteSpan s = BytesArg(env, info[0], "packet");
    tun::PacketRef p{s.data, s.len};
    tun::PacketFault f = c->queue().Check(&p, 1, false);
    if (f.code) ThrowFault(env, f, false);
    int r = c->queue().WriteOne(p);
    if (r < 0)
      throw SystemError(env, -r, "write",
                        "writing a packet to the device failed");
    return Napi::Boolean::New(env, r == 1);
  }

  // writeBatch(packets, start, withHeader?): the index reached.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TunCore* c = LiveTun(env);
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber())
      throw CodedTypeError(
          env, "ERR_INVALID_ARG_TYPE",
          "writeBatch(packets: array, start: number, withHeader?: boolean)");
    bool with_header = info.Length() > 2 && info[2].ToBoolean().Value();
    Napi::Array packets = info[0].As<Napi::Array>();
    uint32_t n = packets.Length();
    double start_d = info[1].As<Napi::Number>().DoubleValue();
    if (!(start_d >= 0 && start_d <= n) ||
        start_d != static_cast<uint32_t>(start_d))
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "start is not an index of packets");
    auto start = static_cast<uint32_t>(start_d);
    if (with_header && !c->queue().vnet())
      throw CodedError(env, "ERR_NO_OFFLOAD",
                       "This device has no offloads: packets cannot carry a "
                       "virtio-net header.");
    // Every element first: a getter (or proxy) runs JS, which could detach
    // or shrink a packet already checked. Taking the bytes runs no JS, so
    // what is checked is what is written.
    values_.clear();
    for (uint32_t i = start; i < n; ++i) {
      napi_value v;
      NAPI_THROW_IF_FAILED(env, napi_get_element(env, packets, i, &v),
                           Napi::Value());
      values_.push_back(v);
    }
    refs_.clear();
    for (napi_value v : values_) {
      ByteSpan s = BytesArg(env, v, "packet");
      refs_.push_back({s.data, s.len});
    }
    auto count = static_cast<uint32_t>(refs_.size());
    tun::PacketFault f = c->queue().Check(refs_.data(), count, with_header);
    if (f.code) {
      f.index += start;
      ThrowFault(env, f, true);
    }
    tun::WriteResult w = c->queue().Write(refs_.data(), count, with_header);
    if (w.error && w.error != EAGAIN) {
      Napi::Error e = SystemError(env, w.error, "write",
                                  "writing a packet to the device failed");
      e.Set("index", Napi::Number::New(env, start + w.taken));
      throw e;
    }
    return Napi::Number::New(env, start + w.taken);
  }

  // writeFrom(data, meta, stride, count, start, trimHead, trimTail): the
  // position reached. Writes data[meta[s*i] + trimHead, meta[s*i] +
  // meta[s*i+1] - trimTail) for each entry (a tunnel's datagrams, its
  // header and trailer cut off): entries of negative length are skipped,
  // and entries that are no IP packet (the network sent them) are left out
  // and counted (txInvalid), never thrown for the whole batch.
  Napi::Value WriteFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TunCore* c = LiveTun(env);
    if (info.Length() < 7)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "writeFrom(data, meta, stride, count, start, "
                           "trimHead, trimTail)");
    ByteSpan data = BytesArg(env, info[0], "batch's data");
    size_t nmeta = 0;
    auto* meta = static_cast<const int32_t*>(TypedArg(
        env, info[1], napi_int32_array, &nmeta, "meta must be an Int32Array"));
    auto stride = static_cast<uint32_t>(IntArg(env, info[2], "stride", 2, 3));
    auto count =
        static_cast<uint32_t>(IntArg(env, info[3], "count", 0, nmeta / stride));
    auto start = static_cast<uint32_t>(IntArg(env, info[4], "start", 0, count));
    int64_t head = IntArg(env, info[5], "trimHead", 0, 65535);
    int64_t tail = IntArg(env, info[6], "trimTail", 0, 65535);
    refs_.clear();
    positions_.clear();
    for (uint32_t i = start; i < count; ++i) {
      int64_t off = meta[stride * i], len = meta[stride * i + 1];
      if (len < 0) continue;
      if (off < 0 || off + len > static_cast<int64_t>(data.len)) {
        Napi::Error e = CodedRangeError(
            env, "ERR_OUT_OF_RANGE",
            "Entry " + std::to_string(i) + " lies outside the batch's data");
        e.Set("index", Napi::Number::New(env, i));
        throw e;
      }
      tun::PacketRef p{
          data.data + off + head,
          len > head + tail ? static_cast<size_t>(len - head - tail) : 0};
      if (!c->queue().Valid(p)) {
        c->queue().Count(tun::kTxInvalid);
        continue;
      }
      refs_.push_back(p);
      positions_.push_back(i);
    }
    auto n = static_cast<uint32_t>(refs_.size());
    tun::WriteResult w = c->queue().Write(refs_.data(), n, false);
    uint32_t reached = w.taken < n ? positions_[w.taken] : count;
    if (w.error && w.error != EAGAIN) {
      Napi::Error e = SystemError(env, w.error, "write",
                                  "writing a packet to the device failed");
      e.Set("index", Napi::Number::New(env, reached));
      throw e;
    }
    return Napi::Number::New(env, reached);
  }

  void Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t len = 0;
    auto* out = info.Length() < 1 ? nullptr
                                  : static_cast<double*>(TypedArg(
                                        env, info[0], napi_float64_array, &len,
                                        "counters(out): out must be a "
                                        "Float64Array"));
    if (!out || len < tun::kCounterCount)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "counters(out: Float64Array of " +
                               std::to_string(tun::kCounterCount) + ")");
    for (int i = 0; i < tun::kCounterCount; ++i)
      out[i] = static_cast<double>(counters_[i]);
  }

  uint64_t counters_[tun::kCounterCount] = {};
  uint32_t batch_size_ = 0;
  std::vector<napi_value> values_;    // writeBatch's elements, one call
  std::vector<tun::PacketRef> refs_;  // and their bytes
  std::vector<uint32_t> positions_;   // writeFrom: each ref's entry
  Napi::Reference<Napi::ArrayBuffer> slab_;
  Napi::Reference<Napi::Int32Array> meta_;
  Napi::Reference<Napi::Uint16Array> gso_;
  Napi::Reference<Napi::Int32Array> split_meta_;
};

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, tun::OpenOptions options)
      : Napi::AsyncWorker(env, "vpn-provider:openTun"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { err_ = tun::Open(options_, &opened_, &syscall_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ < 0) {
      int err = -err_;
      std::string what = "cannot open a TUN device";
      if (err == EPERM || err == EACCES)
        what += " (needs CAP_NET_ADMIN: run as root or grant the capability)";
      else if (err == EBUSY)
        what += " (the name \"" + options_.name + "\" is taken)";
      else if (err == EINVAL && options_.multi_queue)
        what += " (\"" + options_.name +
                "\" exists without IFF_MULTI_QUEUE, or with other offloads)";
      else if (err == ENOENT || err == ENODEV)
        what += " (/dev/net/tun is missing: load the tun module)";
      deferred_.Reject(SystemError(env, err, syscall_, what).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("fd", opened_.fd);
    o.Set("name", opened_.name);
    o.Set("ifindex", opened_.ifindex);
    o.Set("offloads", opened_.offloads);
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  tun::OpenOptions options_;
  tun::Opened opened_;
  int err_ = 0;
  const char* syscall_ = "open";
};

Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tun::OpenOptions options;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value name = o.Get("name");
    if (!name.IsUndefined() && !name.IsNull()) {
      if (!name.IsString())
        throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                             "name must be a string");
      options.name = name.As<Napi::String>().Utf8Value();
      if (!options.name.empty()) {
        if (const char* why = tun::CheckInterfaceName(options.name))
          throw CodedTypeError(env, "ERR_INVALID_INTERFACE_NAME",
                               std::string(why) + ": \"" + options.name + "\"");
      }
    }
    options.multi_queue = o.Get("multiQueue").ToBoolean().Value();
    if (o.Get("offload").ToBoolean().Value()) {
      options.offloads = tun::kTunFCsum | tun::kTunFTso4 | tun::kTunFTso6 |
                         tun::kTunFUso4 | tun::kTunFUso6;
      // offloadMask: the TUN_F_* flags to ask for at most (tests use it to
      // take the fallbacks a kernel without USO, or without any, takes).
      Napi::Value mask = o.Get("offloadMask");
      if (mask.IsNumber())
        options.offloads &= mask.As<Napi::Number>().Uint32Value();
    }
  }
  auto* w = new OpenWorker(env, std::move(options));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                 fds) < 0)
    throw SystemError(info.Env(), errno, "socketpair",
                      "cannot make a socket pair");
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, fds[0]);
  a.Set(1u, fds[1]);
  return a;
}

void CloseFd(const Napi::CallbackInfo& info) {
  int fd = FdArg(info.Env(), info[0], "closeFd");
  if (::close(fd) < 0)
    throw SystemError(info.Env(), errno, "close",
                      "cannot close fd " + std::to_string(fd));
}

// setTunPersist(fd, on): see tun::SetPersist. Synchronous (one ioctl), so
// that the process's 'exit' hook can undo it.
void SetTunPersist(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(env, info[0], "setTunPersist");
  if (info.Length() < 2 || !info[1].IsBoolean())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "setTunPersist(fd, on): on must be a boolean");
  int r = tun::SetPersist(fd, info[1].As<Napi::Boolean>().Value());
  if (r < 0)
    throw SystemError(env, -r, "ioctl(TUNSETPERSIST)",
                      "cannot change whether the TUN device persists");
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = Tun::Define(env);
  data->tun_ctor = Napi::Persistent(ctor);
  exports.Set("Tun", ctor);
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("setTunPersist",
              Napi::Function::New(env, SetTunPersist, "setTunPersist"));
}

}  // namespace vpn
