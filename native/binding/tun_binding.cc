// TUN device binding: the packet path between the fd and JS.
//
// Receive: a uv_poll handle on the environment's own loop (never the default
// loop; workers have their own) wakes when the fd is readable; ReadBatch
// drains it into one slab that JS sees as an ArrayBuffer, and JS is called
// once per batch with the packet count. Packets are views into the slab,
// valid during that call; the slab is reused for the next batch, so the
// steady state allocates nothing. When JS is slower than the kernel, packets
// wait, then drop, in the kernel's queue (bounded), not in this process.
//
// Send: write() straight from the caller's memory, one call per batch.
//
// A reader thread feeding a pool of slabs through uv_async_send was measured
// against this (bench/packet, at commit 8e4c938) and lost: 0.75-0.79x the C
// read loop against 0.84-0.92x, with more CPU per packet; it was removed.
//
// Lifetime: the poll handle is unreferenced unless ref() is called, so an
// open device never keeps the process alive. Core outlives the JS object
// until libuv has closed the handle; an async cleanup hook closes it when the
// environment (main thread or worker) goes away.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "binding/addon.h"
#include "binding/errors.h"
#include "tun/offload.h"
#include "tun/tun.h"

namespace vpn {
namespace {

enum Counter {
  kRxPackets,
  kRxBytes,
  kRxBatches,
  kRxFullBatches,
  kTxPackets,
  kTxBytes,
  kTxBatches,
  kTxEagain,
  kReadErrors,
  kWriteErrors,
  kRxSuperPackets,  // super-packets read (vnet: GSO type set)
  kRxSegments,      // wire-size packets they carry
  kTxSuperPackets,  // super-packets written (coalesced runs)
  kGsoErrors,       // super-packets dropped as malformed
  kCounterCount
};

// Full batches delivered per wake-up before the loop gets control back.
constexpr int kBatchesPerWake = 8;

using Slice = tun::PacketRef;

size_t Align8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

// What a device's receive side is made of (one ArrayBuffer, in this order):
// the slab, the split area, meta (2 int32 a packet), gso (8 uint16 a
// packet, vnet only), split meta (2 int32 a segment).
struct Layout {
  size_t slab;
  size_t split;
  uint32_t batch;
  uint32_t split_slots;
  size_t meta_at() const { return slab + split; }
  size_t gso_at() const { return meta_at() + 8 * size_t{batch}; }
  size_t split_meta_at() const { return gso_at() + 16 * size_t{batch}; }
  size_t total() const { return split_meta_at() + 8 * size_t{split_slots}; }
};

class Core {
 public:
  // counters and owner_slot belong to the JS object (Tun); Core writes the
  // counters only while open and clears *owner_slot when it is freed.
  Core(Napi::Env env, int fd, const Layout& layout, unsigned offloads,
       uint64_t* counters, Core** owner_slot)
      : env_(env),
        fd_(fd),
        batch_size_(layout.batch),
        slab_size_(layout.slab),
        layout_(layout),
        offloads_(offloads),
        counters_(counters),
        owner_slot_(owner_slot) {
    // One ArrayBuffer (see Layout). V8 never moves a backing store, so the
    // pointer holds while it is ours.
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, layout.total());
    base_ = static_cast<uint8_t*>(ab.Data());
    buffer_ = Napi::Persistent(ab);
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int r = uv_poll_init(loop, &poll_, fd);
    if (r < 0) {
      init_error_ = -r;
      return;
    }
    poll_.data = this;
    poll_ready_ = true;
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
    napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_);
  }

  // Closes the fd and the handle; the Core is freed once libuv is done.
  void Close() {
    if (closing_) return;
    closing_ = true;
    dispatch_.Reset();
    on_error_.Reset();
    on_writable_.Reset();
    buffer_.Reset();
    context_.reset();
    if (poll_ready_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!poll_ready_) Free(this);
  }

  int init_error() const { return init_error_; }
  bool closing() const { return closing_; }
  int fd() const { return fd_; }
  Napi::ArrayBuffer buffer() const { return buffer_.Value(); }
  void Disown() { owner_slot_ = nullptr; }

  void Start(Napi::Function dispatch, Napi::Function on_error) {
    dispatch_ = Napi::Persistent(dispatch);
    on_error_ = Napi::Persistent(on_error);
    context_ = std::make_unique<Napi::AsyncContext>(env_, "vpn-provider:tun");
    reading_ = true;
    Update();
  }
  void SetPaused(bool paused) {
    paused_ = paused;
    Update();
  }
  void SetRef(bool ref) {
    if (ref) {
      uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
    } else {
      uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
    }
  }
  void WaitWritable(Napi::Function cb) {
    on_writable_ = Napi::Persistent(cb);
    if (!context_)
      context_ = std::make_unique<Napi::AsyncContext>(env_, "vpn-provider:tun");
    want_write_ = true;
    Update();
  }

  // Validates packets[start..] into scratch_, then writes them in order.
  // with_header: each packet starts with its own virtio_net_hdr.
  uint32_t WriteBatch(Napi::Env env, Napi::Array packets, uint32_t start,
                      bool with_header);
  bool WriteOne(Napi::Env env, napi_value packet);
  // Splits packets [start, count of the last batch) into wire-size
  // segments in the split area, until it or its slots are full. Returns
  // (packets consumed) * 65536 + (segments made).
  uint32_t Split(uint32_t start);
  bool vnet() const { return offloads_ != 0; }
  unsigned offloads() const { return offloads_; }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* core = static_cast<Core*>(handle->data);
    if (core->closing_) return;
    Napi::HandleScope scope(core->env_);
    if (status < 0) {
      // libuv reports POLLERR as EBADF; a read tells the kernel's reason
      // (EBADFD when the interface was deleted under us). While the kernel
      // unregisters the interface, poll says POLLERR before the queue is
      // detached and a read still says EAGAIN: then the poll's error it is,
      // counted as the read side's failure all the same.
      if (core->reading_ && !core->paused_) core->ReadAndDispatch();
      if (!core->closing_ && core->reading_) {
        core->counters_[kReadErrors] += 1;
        core->Fail(-status, "poll", "polling the device failed");
      }
      return;
    }
    if ((events & UV_WRITABLE) && core->want_write_) core->Writable();
    // While batches come back full, the kernel has more: deliver up to
    // kBatchesPerWake of them before giving the loop back, which saves an
    // epoll round trip and a loop iteration per batch and still lets other
    // handles run every few thousand packets.
    for (int i = 0; i < kBatchesPerWake; ++i) {
      if (!(events & UV_READABLE) || core->closing_ || !core->reading_ ||
          core->paused_)
        break;
      if (!core->ReadAndDispatch()) break;
    }
  }

  static void OnClosed(uv_handle_t* handle) {
    Free(static_cast<Core*>(handle->data));
  }

  static void Free(Core* core) {
    if (core->owner_slot_) *core->owner_slot_ = nullptr;
    if (core->cleanup_) napi_remove_async_cleanup_hook(core->cleanup_);
    delete core;
  }

  static void OnEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
    static_cast<Core*>(arg)->Close();
  }

  void Update() {
    if (closing_ || !poll_ready_) return;
    int events = 0;
    if (reading_ && !paused_) events |= UV_READABLE;
    if (want_write_) events |= UV_WRITABLE;
    if (events == events_) return;
    events_ = events;
    if (events) {
      uv_poll_start(&poll_, events, OnPoll);
    } else {
      uv_poll_stop(&poll_);
    }
  }

  // Calls fn from the loop with raw N-API: no C++ exception may start here.
  // A listener that threw goes to Node's uncaught-exception handling, as any
  // callback from the loop; if JS cannot run (the environment is going away),
  // the device stops and the cleanup hook finishes the job.
  void Call(const Napi::FunctionReference& fn, size_t argc,
            const napi_value* argv) {
    napi_value global, result;
    napi_status s = napi_get_global(env_, &global);
    if (s == napi_ok)
      s = napi_make_callback(env_, *context_, global, fn.Value(), argc, argv,
                             &result);
    if (s == napi_ok) return;
    bool pending = false;
    napi_is_exception_pending(env_, &pending);
    if (pending) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env_, &err) == napi_ok)
        napi_fatal_exception(env_, err);
    } else {
      Stop();
    }
  }

  void Stop() {
    reading_ = false;
    want_write_ = false;
    Update();
  }

  void Writable() {
    want_write_ = false;
    Update();
    Napi::FunctionReference cb = std::move(on_writable_);
    if (!cb.IsEmpty()) Call(cb, 0, nullptr);
  }

  // Writes one packet (count 1) or a coalesced run from scratch_[k..]; the
  // result as tun::WritePacket, *count the packets it took.
  int WriteUnit(uint32_t k, uint32_t* count);

  // Reads and delivers one batch: one JS call with the count. True if
  // the batch came back full (more is waiting).
  bool ReadAndDispatch() {
    // JS may detach (transfer) the slab's ArrayBuffer during a listener
    // call; then its memory is no longer ours to write.
    if (buffer_.Value().IsDetached()) {
      Fail(EINVAL, "read",
           "the receive buffer was detached (transferred) by JS");
      return false;
    }
    auto* meta = reinterpret_cast<int32_t*>(base_ + layout_.meta_at());
    auto* gso = vnet() ? reinterpret_cast<uint16_t*>(base_ + layout_.gso_at())
                       : nullptr;
    tun::ReadResult r =
        tun::ReadBatch(fd_, base_, slab_size_, meta, batch_size_, gso);
    last_count_ = r.count;
    if (r.count) {
      counters_[kRxPackets] += r.count;
      counters_[kRxBytes] += r.bytes;
      counters_[kRxBatches] += 1;
      if (r.full) counters_[kRxFullBatches] += 1;
      counters_[kRxSuperPackets] += r.supers;
      counters_[kRxSegments] += r.segments;
      napi_value args[2];
      if (napi_create_uint32(env_, r.count, &args[0]) == napi_ok &&
          napi_create_uint32(env_, r.gso, &args[1]) == napi_ok)
        Call(dispatch_, 2, args);
    }
    if (r.error && !closing_) {
      counters_[kReadErrors] += 1;
      Fail(r.error, "read", "reading from the device failed");
      return false;
    }
    return r.full;
  }

  void Fail(int err, const char* syscall, const char* what) {
    Stop();
    if (on_error_.IsEmpty()) return;
    napi_value e = SystemErrorValue(env_, err, syscall, what);
    Napi::FunctionReference cb = std::move(on_error_);
    if (e) Call(cb, 1, &e);
  }

  Napi::Env env_;
  int fd_;
  uint32_t batch_size_;
  size_t slab_size_;
  Layout layout_;
  unsigned offloads_;  // TUN_F_* in force; nonzero means IFF_VNET_HDR
  uint32_t last_count_ = 0;
  std::vector<iovec> iov_;
  std::vector<napi_value> values_;  // WriteBatch's elements, this call only
  uv_poll_t poll_;
  bool poll_ready_ = false;
  int init_error_ = 0;
  int events_ = 0;
  bool reading_ = false;
  bool paused_ = false;
  bool want_write_ = false;
  bool closing_ = false;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  uint8_t* base_ = nullptr;
  Napi::FunctionReference dispatch_;
  Napi::FunctionReference on_error_;
  Napi::FunctionReference on_writable_;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::vector<Slice> scratch_;
  uint64_t* counters_;
  Core** owner_slot_;
};

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 1;
  }
}

// The bytes of an ArrayBuffer, a typed array or a DataView (also over a
// SharedArrayBuffer). Throws a TypeError for anything else or a detached one.
Slice GetBytes(Napi::Env env, napi_value v) {
  bool is = false;
  void* data = nullptr;
  size_t len = 0;
  napi_value ab = nullptr;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_get_typedarray_info(env, v, &type, &count, &data, &ab, &offset);
    len = count * ElementSize(type);
  } else if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, v, &data, &len);
    ab = v;
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t offset;
    napi_get_dataview_info(env, v, &len, &data, &ab, &offset);
  } else {
    throw CodedTypeError(
        env, "ERR_INVALID_ARG_TYPE",
        "A packet must be an ArrayBuffer, a typed array or a DataView.");
  }
  if (len == 0 && ab != nullptr) {
    bool detached = false;
    napi_is_detached_arraybuffer(env, ab, &detached);
    if (detached)
      throw CodedTypeError(
          env, "ERR_BUFFER_DETACHED",
          "The packet's ArrayBuffer is detached (it was transferred).");
  }
  return {static_cast<const uint8_t*>(data), len};
}

void CheckOrThrow(Napi::Env env, const Slice& s, int64_t index) {
  const char* code = nullptr;
  const char* why = tun::CheckPacket(s.data, s.len, &code);
  if (!why) return;
  Napi::Error e = s.len > tun::kMaxPacket ? CodedRangeError(env, code, why)
                                          : CodedError(env, code, why);
  if (index >= 0)
    e.Set("index", Napi::Number::New(env, static_cast<double>(index)));
  throw e;
}

int Core::WriteUnit(uint32_t k, uint32_t* count) {
  if (!vnet()) {
    *count = 1;
    return tun::WritePacket(fd_, scratch_[k].data, scratch_[k].len);
  }
  tun::WritePlan plan;
  tun::PlanWrite(scratch_.data(), static_cast<uint32_t>(scratch_.size()), k,
                 offloads_, &plan);
  iov_.resize(1 + plan.count);
  iov_[0] = {plan.head, plan.head_len};
  for (uint32_t m = 0; m < plan.count; ++m) {
    const Slice& p = scratch_[k + m];
    iov_[1 + m] = {const_cast<uint8_t*>(p.data) + plan.hdr_len,
                   p.len - plan.hdr_len};
  }
  *count = plan.count;
  int r = tun::WritePacketV(fd_, iov_.data(), static_cast<int>(iov_.size()),
                            plan.head_len + plan.total - plan.hdr_len);
  if (r == 1 && plan.count > 1) counters_[kTxSuperPackets] += 1;
  return r;
}

uint32_t Core::Split(uint32_t start) {
  auto* meta = reinterpret_cast<int32_t*>(base_ + layout_.meta_at());
  auto* gso = reinterpret_cast<uint16_t*>(base_ + layout_.gso_at());
  auto* out_meta = reinterpret_cast<int32_t*>(base_ + layout_.split_meta_at());
  uint8_t* area = base_ + layout_.slab;
  uint32_t made = 0, i = start;
  size_t used = 0;
  for (; i < last_count_ && made < layout_.split_slots; ++i) {
    const uint16_t* g = gso + 8 * i;
    // meta lives in memory JS can write: an entry that no longer describes
    // a packet inside the slab is skipped, never followed.
    int32_t off = meta[2 * i], mlen = meta[2 * i + 1];
    if (off < 0 || mlen <= 0 || static_cast<size_t>(mlen) > tun::kMaxPacket ||
        static_cast<size_t>(off) + static_cast<size_t>(mlen) > slab_size_) {
      counters_[kGsoErrors] += 1;
      continue;
    }
    uint8_t* pkt = base_ + off;
    size_t len = static_cast<size_t>(mlen);
    tun::VnetHdr h;
    h.flags = static_cast<uint8_t>(g[0]);
    h.gso_type = static_cast<uint8_t>(g[1]);
    h.hdr_len = g[2];
    h.gso_size = g[3];
    h.csum_start = g[4];
    h.csum_offset = g[5];
    if (h.gso_type == tun::kGsoNone) {
      // A wire-size packet stays where it is. ReadBatch finished any
      // checksum left to us; one still marked had offsets it could not use.
      if (h.flags & tun::kNeedsCsum) {
        counters_[kGsoErrors] += 1;
        continue;
      }
      out_meta[2 * made] = meta[2 * i];
      out_meta[2 * made + 1] = meta[2 * i + 1];
      ++made;
      continue;
    }
    tun::SegmentResult r = tun::Segment(
        pkt, len, h, area + used, layout_.split - used, out_meta + 2 * made,
        layout_.split_slots - made, layout_.slab + used);
    if (r.status == tun::SegmentStatus::kNoRoom && made > 0) break;
    if (r.status != tun::SegmentStatus::kOk) {
      // Malformed, or more segments than an empty split area holds.
      counters_[kGsoErrors] += 1;
      continue;
    }
    made += r.count;
    used += r.used;
  }
  return (i - start) * 65536 + made;
}

bool Core::WriteOne(Napi::Env env, napi_value packet) {
  Slice s = GetBytes(env, packet);
  CheckOrThrow(env, s, -1);
  int r;
  if (vnet()) {
    uint8_t zero[tun::kVnetHdrLen] = {};
    iovec iov[2] = {{zero, sizeof zero}, {const_cast<uint8_t*>(s.data), s.len}};
    r = tun::WritePacketV(fd_, iov, 2, sizeof zero + s.len);
  } else {
    r = tun::WritePacket(fd_, s.data, s.len);
  }
  if (r == 1) {
    counters_[kTxPackets] += 1;
    counters_[kTxBytes] += s.len;
    counters_[kTxBatches] += 1;
    return true;
  }
  if (r == 0) {
    counters_[kTxEagain] += 1;
    return false;
  }
  counters_[kWriteErrors] += 1;
  throw SystemError(env, -r, "write", "writing a packet to the device failed");
}

uint32_t Core::WriteBatch(Napi::Env env, Napi::Array packets, uint32_t start,
                          bool with_header) {
  if (with_header && !vnet())
    throw CodedError(env, "ERR_NO_OFFLOAD",
                     "This device has no offloads: packets cannot carry a "
                     "virtio-net header.");
  uint32_t n = packets.Length();
  // Every element first: a getter (or proxy) runs JS, which could detach or
  // shrink a packet already checked. Taking the bytes runs no JS, so what is
  // checked below is what is written.
  values_.clear();
  for (uint32_t i = start; i < n; ++i) {
    napi_value v;
    NAPI_THROW_IF_FAILED(env, napi_get_element(env, packets, i, &v), 0);
    values_.push_back(v);
  }
  scratch_.clear();
  for (uint32_t i = start; i < n; ++i) {
    Slice s = GetBytes(env, values_[i - start]);
    if (with_header) {
      if (const char* why = tun::CheckVnetPacket(s.data, s.len)) {
        Napi::Error e = CodedError(env, "ERR_BAD_VNET_HEADER", why);
        e.Set("index", Napi::Number::New(env, i));
        throw e;
      }
      Slice ip{s.data + tun::kVnetHdrLen, s.len - tun::kVnetHdrLen};
      CheckOrThrow(env, ip, i);
    } else {
      CheckOrThrow(env, s, i);
    }
    scratch_.push_back(s);
  }
  uint64_t bytes = 0, wire = 0;  // wire: the wire-size packets written
  uint32_t i = start;
  while (i - start < scratch_.size()) {
    uint32_t k = i - start, taken = 1;
    int r = with_header
                ? tun::WritePacket(fd_, scratch_[k].data, scratch_[k].len)
                : WriteUnit(k, &taken);
    if (r == 1) {
      for (uint32_t m = 0; m < taken; ++m) bytes += scratch_[k + m].len;
      if (with_header) {
        const Slice& p = scratch_[k];
        tun::VnetHdr h = tun::ReadVnetHdr(p.data);
        uint32_t n = tun::SegmentCount(p.data + tun::kVnetHdrLen,
                                       p.len - tun::kVnetHdrLen, h);
        wire += n;
        if (n > 1) counters_[kTxSuperPackets] += 1;
      } else {
        wire += taken;
      }
      i += taken;
      continue;
    }
    counters_[kTxPackets] += wire;
    counters_[kTxBytes] += bytes;
    if (i > start) counters_[kTxBatches] += 1;
    if (r == 0) {
      counters_[kTxEagain] += 1;
      return i;
    }
    counters_[kWriteErrors] += 1;
    Napi::Error e =
        SystemError(env, -r, "write", "writing a packet to the device failed");
    e.Set("index", Napi::Number::New(env, i));
    throw e;
  }
  counters_[kTxPackets] += wire;
  counters_[kTxBytes] += bytes;
  if (i > start) counters_[kTxBatches] += 1;
  return i;
}

class Tun : public Napi::ObjectWrap<Tun> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tun",
                       {
                           InstanceAccessor<&Tun::Fd>("fd"),
                           InstanceAccessor<&Tun::Slab>("slab"),
                           InstanceAccessor<&Tun::Meta>("meta"),
                           InstanceAccessor<&Tun::GsoMeta>("gso"),
                           InstanceAccessor<&Tun::SplitMeta>("splitMeta"),
                           InstanceAccessor<&Tun::Offloads>("offloads"),
                           InstanceAccessor<&Tun::BatchSize>("batchSize"),
                           InstanceAccessor<&Tun::Closed>("closed"),
                           InstanceMethod<&Tun::Start>("start"),
                           InstanceMethod<&Tun::Pause>("pause"),
                           InstanceMethod<&Tun::Resume>("resume"),
                           InstanceMethod<&Tun::Ref>("ref"),
                           InstanceMethod<&Tun::Unref>("unref"),
                           InstanceMethod<&Tun::Write>("write"),
                           InstanceMethod<&Tun::WriteBatch>("writeBatch"),
                           InstanceMethod<&Tun::Split>("split"),
                           InstanceMethod<&Tun::WaitWritable>("waitWritable"),
                           InstanceMethod<&Tun::Counters>("counters"),
                           InstanceMethod<&Tun::Close>("close"),
                       });
  }

  // new Tun(fd, { batchSize, slabSize, offloads?, splitSize?, splitSlots? }):
  // takes ownership of fd. offloads: the TUN_F_* flags in force on a fd
  // opened with IFF_VNET_HDR (0: a plain packet fd).
  explicit Tun(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tun>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsObject())
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "new Tun(fd, { batchSize, slabSize })");
    int fd = FdArg(env, info[0], "new Tun(fd)");
    Napi::Object o = info[1].As<Napi::Object>();
    double batch = o.Get("batchSize").ToNumber().DoubleValue();
    double slab = o.Get("slabSize").ToNumber().DoubleValue();
    if (!(batch >= 1 && batch <= 4096) || batch != static_cast<uint32_t>(batch))
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "batchSize must be an integer from 1 to 4096");
    if (!(slab >= tun::kMaxPacket + 8 && slab <= (64 << 20)) ||
        slab != static_cast<uint32_t>(slab))
      throw CodedRangeError(
          env, "ERR_OUT_OF_RANGE",
          "slabSize must be an integer from 65543 to 67108864");
    double offloads =
        o.Has("offloads") ? o.Get("offloads").ToNumber().DoubleValue() : 0;
    if (!(offloads >= 0 && offloads <= 0xff) ||
        offloads != static_cast<uint32_t>(offloads))
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "offloads must be TUN_F_* flags");
    batch_size_ = static_cast<uint32_t>(batch);
    Layout layout;
    layout.batch = batch_size_;
    layout.slab = Align8(static_cast<size_t>(slab));
    layout.split = 0;
    layout.split_slots = 0;
    if (offloads != 0) {
      double split = o.Get("splitSize").ToNumber().DoubleValue();
      double slots = o.Get("splitSlots").ToNumber().DoubleValue();
      if (!(split >= tun::kMaxPacket + 8 && split <= (64 << 20)) ||
          split != static_cast<uint32_t>(split))
        throw CodedRangeError(
            env, "ERR_OUT_OF_RANGE",
            "splitSize must be an integer from 65543 to 67108864");
      if (!(slots >= 64 && slots <= 65535) ||
          slots != static_cast<uint32_t>(slots))
        throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                              "splitSlots must be an integer from 64 to 65535");
      layout.split = Align8(static_cast<size_t>(split));
      layout.split_slots = static_cast<uint32_t>(slots);
    }
    core_ = new Core(env, fd, layout, static_cast<unsigned>(offloads),
                     counters_, &core_);
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

  ~Tun() override {
    if (core_) {
      core_->Disown();
      core_->Close();
    }
  }

 private:
  Core* Live(Napi::Env env) {
    if (!core_ || core_->closing())
      throw CodedError(env, "ERR_DEVICE_CLOSED", "The device is closed.");
    return core_;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(),
                             core_ && !core_->closing() ? core_->fd() : -1);
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
    return Napi::Number::New(info.Env(), core_ ? core_->offloads() : 0);
  }
  Napi::Value Split(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core* c = Live(env);
    if (!c->vnet())
      throw CodedError(env, "ERR_NO_OFFLOAD",
                       "This device has no offloads: its packets are "
                       "wire-size already.");
    if (c->buffer().IsDetached())
      throw CodedError(env, "ERR_BUFFER_DETACHED",
                       "The receive buffer was detached (transferred) by JS.");
    double start = info.Length() > 0 && info[0].IsNumber()
                       ? info[0].As<Napi::Number>().DoubleValue()
                       : -1;
    if (!(start >= 0 && start <= 65535) ||
        start != static_cast<uint32_t>(start))
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "split(start): start is not a packet index");
    return Napi::Number::New(env, c->Split(static_cast<uint32_t>(start)));
  }
  Napi::Value BatchSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), batch_size_);
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !core_ || core_->closing());
  }

  void Start(const Napi::CallbackInfo& info) {
    Core* c = Live(info.Env());
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction())
      throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                           "start(dispatch, onError)");
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

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Core* c = Live(info.Env());
    if (info.Length() < 1)
      throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", "write(packet)");
    return Napi::Boolean::New(info.Env(), c->WriteOne(info.Env(), info[0]));
  }

  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core* c = Live(env);
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber())
      throw CodedTypeError(
          env, "ERR_INVALID_ARG_TYPE",
          "writeBatch(packets: array, start: number, withHeader?: boolean)");
    bool with_header = info.Length() > 2 && info[2].ToBoolean().Value();
    Napi::Array packets = info[0].As<Napi::Array>();
    double start = info[1].As<Napi::Number>().DoubleValue();
    if (!(start >= 0 && start <= packets.Length()) ||
        start != static_cast<uint32_t>(start))
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "start is not an index of packets");
    return Napi::Number::New(
        env,
        c->WriteBatch(env, packets, static_cast<uint32_t>(start), with_header));
  }

  void WaitWritable(const Napi::CallbackInfo& info) {
    Core* c = Live(info.Env());
    if (info.Length() < 1 || !info[0].IsFunction())
      throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                           "waitWritable(callback)");
    c->WaitWritable(info[0].As<Napi::Function>());
  }

  void Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::TypedArray>().ElementLength() < kCounterCount)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "counters(out: Float64Array of " +
                               std::to_string(kCounterCount) + ")");
    Napi::Float64Array out = info[0].As<Napi::Float64Array>();
    for (int i = 0; i < kCounterCount; ++i)
      out[i] = static_cast<double>(counters_[i]);
  }

  void Close(const Napi::CallbackInfo&) {
    if (core_ && !core_->closing()) core_->Close();
  }

  Core* core_ = nullptr;  // freed by libuv's close callback, which clears this
  uint64_t counters_[kCounterCount] = {};
  uint32_t batch_size_ = 0;
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

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = Tun::Define(env);
  data->tun_ctor = Napi::Persistent(ctor);
  exports.Set("Tun", ctor);
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace vpn
