// UDP socket binding: N-API glue over udp::Socket (native/udp/udp.h, where
// the batching is explained). Here: the receive memory as one ArrayBuffer
// that JS reads datagrams from, the fd watched on the loop (binding/poll.h),
// one JS call per delivered batch, ICMP errors handed to JS as they come,
// and argument conversion for the send side.
#include <errno.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "binding/reader.h"
#include "udp/udp.h"

namespace vpn {
namespace {

constexpr int kErrorsPerWake = 64;

// peer errors as [{ errno, code, record, info }] with raw N-API (this runs
// from the loop); nullptr if it cannot be built.
napi_value PeerErrorsValue(napi_env env, const udp::PeerError* e, size_t n) {
  napi_value arr;
  if (napi_create_array_with_length(env, n, &arr) != napi_ok) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    napi_value o, err, code, rec, ab, info;
    void* data = nullptr;
    std::string name = ErrnoCode(e[i].error);
    if (napi_create_object(env, &o) != napi_ok ||
        napi_create_int32(env, -e[i].error, &err) != napi_ok ||
        napi_create_string_utf8(env, name.data(), name.size(), &code) !=
            napi_ok ||
        napi_create_arraybuffer(env, udp::kPeerSize, &data, &ab) != napi_ok ||
        napi_create_typedarray(env, napi_uint8_array, udp::kPeerSize, ab, 0,
                               &rec) != napi_ok ||
        napi_create_uint32(env, e[i].info, &info) != napi_ok)
      return nullptr;
    udp::StorePeer(e[i].peer, static_cast<uint8_t*>(data));
    if (napi_set_named_property(env, o, "errno", err) != napi_ok ||
        napi_set_named_property(env, o, "code", code) != napi_ok ||
        napi_set_named_property(env, o, "record", rec) != napi_ok ||
        napi_set_named_property(env, o, "info", info) != napi_ok ||
        napi_set_element(env, arr, static_cast<uint32_t>(i), o) != napi_ok)
      return nullptr;
  }
  return arr;
}

class UdpCore : public PolledReader, public udp::Sink {
 public:
  UdpCore(Napi::Env env, const udp::Opened& o, const udp::Layout& layout,
          uint64_t* counters, PolledReader** owner_slot)
      : PolledReader(env, o.fd, "vpn-provider:udp", layout.total(), owner_slot),
        socket_(o.fd, o.family, o.features, data(), layout, counters) {}

  udp::Socket& socket() { return socket_; }
  void SetPeerErrors(Napi::Function cb) {
    on_peer_errors_ = Napi::Persistent(cb);
  }

  bool Deliver(uint32_t count) override {
    napi_value n;
    if (napi_create_uint32(env(), count, &n) != napi_ok) return false;
    return Dispatch(1, &n);
  }

 private:
  void OnClose() override {
    on_peer_errors_.Reset();
    PolledReader::OnClose();
  }
  void CloseFd() override { socket_.Close(); }

  // POLLERR: an ICMP error waits in the error queue (IP_RECVERR). Read it
  // and go on reading; a socket whose error queue cannot be read is broken.
  int OnPollError(int) override { return ReportErrors() ? UV_READABLE : 0; }
  // Paused, errors are still watched for: epoll reports POLLERR whatever
  // it is asked for, and UV_DISCONNECT asks for nothing else.
  int IdleEvents() const override { return UV_DISCONNECT; }

  bool Read() override {
    if (!Usable("recvmmsg")) return false;
    udp::ReceiveResult r = socket_.Receive(this);
    if (r.stopped || closing()) return false;
    if (r.transient) return ReportErrors();
    if (r.error) {
      Fail(r.error, "recvmmsg", "receiving from the UDP socket failed");
      return false;
    }
    return r.more;
  }

  // Hands queued ICMP errors to JS. False if the socket failed instead.
  bool ReportErrors() {
    udp::PeerError errs[kErrorsPerWake];
    int n = socket_.DrainErrors(errs, kErrorsPerWake);
    if (n < 0) {
      Fail(-n, "recvmsg", "reading the UDP socket's error queue failed");
      return false;
    }
    if (n > 0 && !on_peer_errors_.IsEmpty()) {
      napi_value arr = PeerErrorsValue(env(), errs, static_cast<size_t>(n));
      if (arr) CallJs(on_peer_errors_, 1, &arr);
    }
    return !closing();
  }

  udp::Socket socket_;
  Napi::FunctionReference on_peer_errors_;
};

// An address and a port as a peer; family 0 for an empty address.
udp::Peer PeerArg(Napi::Env env, Napi::Value address, Napi::Value port,
                  const char* what) {
  udp::Peer p;
  route::ParsedAddress a = IpArg(env, address, what, 0);
  p.family = a.v6 ? 6 : 4;
  if (a.v6) {
    route::Store6(a.addr6, p.addr);
  } else {
    for (int i = 0; i < 4; ++i)
      p.addr[i] = static_cast<uint8_t>(a.addr4 >> (24 - 8 * i));
  }
  p.port = static_cast<uint16_t>(IntArg(env, port, "port", 0, 65535));
  return p;
}

// A table of peer records, or none.
const uint8_t* PeersArg(napi_env env, napi_value v, uint32_t* n) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *n = 0;
  if (t == napi_null || t == napi_undefined) return nullptr;
  size_t len = 0;
  auto* p = static_cast<const uint8_t*>(TypedArg(
      env, v, napi_uint8_array, &len, "peers must be a Uint8Array of records"));
  if (len % udp::kPeerSize != 0)
    throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                          "peers must hold whole 24-byte records");
  *n = static_cast<uint32_t>(len / udp::kPeerSize);
  return p;
}

class Udp : public ReaderWrap<Udp> {
 public:
  static constexpr const char* kClosedCode = "ERR_SOCKET_CLOSED";
  static constexpr const char* kClosedMessage = "The socket is closed.";
  static constexpr size_t kStartArgs = 3;
  static constexpr const char* kStartUsage =
      "start(dispatch, onError, onPeerErrors)";
  void StartMore(const Napi::CallbackInfo& info) {
    udp()->SetPeerErrors(info[2].As<Napi::Function>());
  }

  static Napi::Function Define(Napi::Env env) {
    std::vector<Prop> props = {
        InstanceAccessor<&Udp::Fd>("fd"),
        InstanceAccessor<&Udp::Buffer>("buffer"),
        InstanceAccessor<&Udp::Meta>("meta"),
        InstanceAccessor<&Udp::Peers>("peers"),
        InstanceAccessor<&Udp::State>("state"),
        InstanceAccessor<&Udp::Offloads>("offloads"),
        InstanceMethod<&Udp::SendArray>("sendArray"),
        InstanceMethod<&Udp::SendFrom>("sendFrom"),
        InstanceMethod<&Udp::TakeSendErrors>("takeSendErrors"),
        InstanceMethod<&Udp::Counters>("counters"),
    };
    AddReaderProperties(&props);
    return DefineClass(env, "Udp", props);
  }

  // new Udp(options): opens and binds the socket (see OpenOptions).
  explicit Udp(const Napi::CallbackInfo& info) : ReaderWrap<Udp>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = ObjectArg(info, "new Udp({ type, address, port, ... })");
    udp::OpenOptions opt;
    Napi::Value type = o.Get("type");
    if (!type.IsUndefined()) {
      std::string t =
          type.IsString() ? type.As<Napi::String>().Utf8Value() : "";
      if (t != "udp4" && t != "udp6")
        throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                             "type must be \"udp4\" or \"udp6\"");
      opt.family = t == "udp4" ? AF_INET : AF_INET6;
    }
    opt.v6only = BoolProp(env, o, "ipv6Only") == 1;
    Napi::Value address = o.Get("address");
    Napi::Value port = o.Get("port");
    if (!address.IsUndefined() || !port.IsUndefined()) {
      if (!address.IsUndefined()) {
        opt.bind = PeerArg(
            env, address, port.IsUndefined() ? Napi::Number::New(env, 0) : port,
            "address");
      } else {
        opt.bind.port =
            static_cast<uint16_t>(IntArg(env, port, "port", 0, 65535));
      }
      if (opt.bind.family == 6 && opt.family == AF_INET)
        throw CodedError(env, "ERR_ADDRESS_FAMILY",
                         "An IPv6 address cannot be bound by a udp4 socket.");
    }
    Napi::Value connect = o.Get("connect");
    if (!connect.IsUndefined()) {
      if (!connect.IsObject())
        throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                             "connect must be { address, port }");
      Napi::Object c = connect.As<Napi::Object>();
      opt.connect =
          PeerArg(env, c.Get("address"), c.Get("port"), "connect.address");
      if (opt.connect.port == 0)
        throw CodedRangeError(env, "ERR_SOCKET_BAD_PORT",
                              "connect.port must be from 1 to 65535");
    }
    opt.reuse_port = BoolProp(env, o, "reusePort") == 1;
    int64_t mark = IntProp(env, o, "mark", 0, 0xffffffff, -1);
    if (mark >= 0) {
      opt.has_mark = true;
      opt.mark = static_cast<uint32_t>(mark);
    }
    Napi::Value device = o.Get("device");
    if (!device.IsUndefined()) {
      if (!device.IsString())
        throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                             "device must be a string");
      opt.device = device.As<Napi::String>().Utf8Value();
      if (opt.device.empty() || opt.device.size() >= 16 ||
          opt.device.find('\0') != std::string::npos)
        throw CodedTypeError(env, "ERR_INVALID_INTERFACE_NAME",
                             "device is not an interface name");
    }
    opt.recv_buffer =
        static_cast<int>(IntProp(env, o, "recvBufferSize", 1, 0x3fffffff, 0));
    opt.send_buffer =
        static_cast<int>(IntProp(env, o, "sendBufferSize", 1, 0x3fffffff, 0));
    bool offload = BoolProp(env, o, "offload") != 0;
    opt.gro = offload && BoolProp(env, o, "gro") != 0;
    opt.gso = offload && BoolProp(env, o, "gso") != 0;
    auto messages =
        static_cast<uint32_t>(IntProp(env, o, "batchSize", 1, 1024, 32));
    auto max_datagram = static_cast<size_t>(
        IntProp(env, o, "maxDatagramSize", 1, 65535, 65535));

    udp::Opened opened;
    const char* syscall = "socket";
    if (int err = udp::Open(opt, &opened, &syscall)) {
      std::string what = "cannot open the UDP socket";
      if (-err == EPERM && opt.has_mark)
        what += " (SO_MARK needs CAP_NET_ADMIN)";
      else if (-err == EADDRINUSE)
        what += " (the port is taken)";
      throw SystemError(env, -err, syscall, what);
    }
    udp::Layout layout =
        udp::Layout::For(messages, max_datagram, opened.features.gro);
    core_ = new UdpCore(env, opened, layout, counters_, &core_);
    if (int err = core_->init_error()) {
      core_->Close();
      throw SystemError(env, err, "uv_poll_init", "cannot poll the socket");
    }
    Napi::ArrayBuffer ab = core_->buffer();
    buffer_ = Napi::Persistent(ab);
    meta_ = Napi::Persistent(Napi::Int32Array::New(
        env, 3 * size_t{layout.datagrams}, ab, layout.meta_at()));
    peers_ = Napi::Persistent(Napi::Uint8Array::New(
        env, udp::kPeerSize * size_t{layout.messages}, ab, layout.peers_at()));
    state_ =
        Napi::Persistent(Napi::Uint32Array::New(env, 1, ab, layout.state_at()));
    udp::StorePeer(opened.local, local_);
    Napi::Uint8Array local = Napi::Uint8Array::New(env, udp::kPeerSize);
    memcpy(local.Data(), local_, udp::kPeerSize);
    info.This().As<Napi::Object>().Set("local", local);
    info.This().As<Napi::Object>().Set(
        "family", Napi::Number::New(env, opened.family == AF_INET ? 4 : 6));
  }

 private:
  UdpCore* udp() const { return static_cast<UdpCore*>(core_); }
  UdpCore* LiveUdp(Napi::Env env) { return static_cast<UdpCore*>(Live(env)); }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), open() ? udp()->socket().fd() : -1);
  }
  Napi::Value Buffer(const Napi::CallbackInfo&) { return buffer_.Value(); }
  Napi::Value Meta(const Napi::CallbackInfo&) { return meta_.Value(); }
  Napi::Value Peers(const Napi::CallbackInfo&) { return peers_.Value(); }
  Napi::Value State(const Napi::CallbackInfo&) { return state_.Value(); }
  // 1: GRO, 2: GSO (what is in force now: GSO goes off after EIO).
  Napi::Value Offloads(const Napi::CallbackInfo& info) {
    if (!open()) return Napi::Number::New(info.Env(), 0);
    const udp::Features& f = udp()->socket().features();
    return Napi::Number::New(info.Env(), (f.gro ? 1 : 0) | (f.gso ? 2 : 0));
  }

  // Checks, sends, and returns the position reached: datagrams_ came from
  // positions_ of the caller's list (skipped ones are not in it).
  uint32_t Send(Napi::Env env, UdpCore* c, const uint8_t* peers,
                uint32_t npeers, uint32_t end) {
    const char* code = nullptr;
    const char* why = nullptr;
    auto n = static_cast<uint32_t>(datagrams_.size());
    int64_t bad =
        c->socket().Check(datagrams_.data(), n, peers, npeers, &code, &why);
    if (bad >= 0) {
      Napi::Error e = std::string(code) == "ERR_DATAGRAM_TOO_LARGE"
                          ? CodedRangeError(env, code, why)
                          : CodedError(env, code, why);
      e.Set("index", Napi::Number::New(env, positions_[bad]));
      throw e;
    }
    udp::SendResult r = c->socket().Send(datagrams_.data(), n, peers, npeers);
    uint32_t reached = r.taken < n ? positions_[r.taken] : end;
    if (r.error && r.error != EAGAIN) {
      Napi::Error e = SystemError(env, r.error, "sendmmsg",
                                  "sending on the UDP socket failed");
      e.Set("index", Napi::Number::New(env, reached));
      throw e;
    }
    return reached;
  }

  // sendArray(datagrams, start, peers?, index?): the position reached.
  // Datagram i goes to peers record index[i] (negative: skipped), or
  // record 0 without index, or the connected peer without peers.
  Napi::Value SendArray(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    UdpCore* c = LiveUdp(env);
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber())
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "sendArray(datagrams, start, peers?, index?)");
    Napi::Array list = info[0].As<Napi::Array>();
    uint32_t n = list.Length();
    auto start = static_cast<uint32_t>(IntArg(env, info[1], "start", 0, n));
    uint32_t npeers = 0;
    const uint8_t* peers = PeersArg(env, info[2], &npeers);
    size_t nindex = 0;
    const int32_t* index = nullptr;
    if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull()) {
      index = static_cast<const int32_t*>(
          TypedArg(env, info[3], napi_int32_array, &nindex,
                   "index must be an Int32Array"));
      if (nindex < n)
        throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                              "index is shorter than the datagrams");
    }
    // Every element first: a getter could run JS that changes a datagram
    // already taken; taking bytes runs no JS.
    values_.clear();
    for (uint32_t i = start; i < n; ++i) {
      napi_value v;
      NAPI_THROW_IF_FAILED(env, napi_get_element(env, list, i, &v),
                           Napi::Value());
      values_.push_back(v);
    }
    datagrams_.clear();
    positions_.clear();
    for (uint32_t i = start; i < n; ++i) {
      ByteSpan s = BytesArg(env, values_[i - start], "datagram");
      uint32_t peer = udp::kConnected;
      if (index) {
        if (index[i] < 0) continue;
        peer = static_cast<uint32_t>(index[i]);
      } else if (peers) {
        peer = 0;
      }
      udp::Datagram& dg = datagrams_.emplace_back();
      dg.data = s.data;
      dg.len = s.len;
      dg.peer = peer;
      positions_.push_back(i);
    }
    return Napi::Number::New(env, Send(env, c, peers, npeers, n));
  }

  // sendFrom(data, meta, stride, count, start, before, after, peers?,
  // index?, column?): datagram i is data[meta[s*i] - before, meta[s*i] +
  // meta[s*i+1] + after) for a meta of stride s (2, or 3 with a peer
  // column); entries of negative length are skipped. Peer: index[i]
  // (negative: skipped), else (column) record meta[3i+2], else record 0
  // of peers, else the connected peer.
  Napi::Value SendFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    UdpCore* c = LiveUdp(env);
    if (info.Length() < 7)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "sendFrom(data, meta, stride, count, start, "
                           "before, after, peers?, index?)");
    ByteSpan data = BytesArg(env, info[0], "batch's data");
    size_t nmeta = 0;
    const int32_t* meta = static_cast<const int32_t*>(TypedArg(
        env, info[1], napi_int32_array, &nmeta, "meta must be an Int32Array"));
    auto stride = static_cast<uint32_t>(IntArg(env, info[2], "stride", 2, 3));
    auto count =
        static_cast<uint32_t>(IntArg(env, info[3], "count", 0, nmeta / stride));
    auto start = static_cast<uint32_t>(IntArg(env, info[4], "start", 0, count));
    auto before = static_cast<int64_t>(IntArg(env, info[5], "before", 0, 4096));
    auto after = static_cast<int64_t>(IntArg(env, info[6], "after", 0, 4096));
    uint32_t npeers = 0;
    const uint8_t* peers =
        info.Length() > 7 ? PeersArg(env, info[7], &npeers) : nullptr;
    size_t nindex = 0;
    const int32_t* index = nullptr;
    if (info.Length() > 8 && !info[8].IsUndefined() && !info[8].IsNull()) {
      index = static_cast<const int32_t*>(
          TypedArg(env, info[8], napi_int32_array, &nindex,
                   "index must be an Int32Array"));
      if (nindex < count)
        throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                              "index is shorter than the batch");
    }
    bool column = info.Length() > 9 && info[9].ToBoolean().Value();
    if (column && (stride != 3 || !peers))
      throw CodedTypeError(env, "ERR_INVALID_ARG_VALUE",
                           "a peer column needs stride 3 and a peer table");
    datagrams_.clear();
    positions_.clear();
    for (uint32_t i = start; i < count; ++i) {
      int64_t off = meta[stride * i], len = meta[stride * i + 1];
      if (len < 0) continue;
      int64_t from = off - before, to = off + len + after;
      if (from < 0 || to > static_cast<int64_t>(data.len)) {
        Napi::Error e = CodedRangeError(env, "ERR_OUT_OF_RANGE",
                                        "Entry " + std::to_string(i) +
                                            " (with its room) lies outside "
                                            "the batch's data");
        e.Set("index", Napi::Number::New(env, i));
        throw e;
      }
      uint32_t peer = udp::kConnected;
      if (index) {
        if (index[i] < 0) continue;
        peer = static_cast<uint32_t>(index[i]);
      } else if (column) {
        peer = static_cast<uint32_t>(meta[3 * i + 2]);
      } else if (peers) {
        peer = 0;
      }
      udp::Datagram& dg = datagrams_.emplace_back();
      dg.data = data.data + from;
      dg.len = static_cast<size_t>(to - from);
      dg.peer = peer;
      positions_.push_back(i);
    }
    return Napi::Number::New(env, Send(env, c, peers, npeers, count));
  }

  // The errors about single destinations the last sends went on after:
  // the same shape as onPeerErrors' (undefined when there are none).
  Napi::Value TakeSendErrors(const Napi::CallbackInfo& info) {
    if (!open()) return info.Env().Undefined();
    std::vector<udp::PeerError> e = udp()->socket().TakeSendErrors();
    if (e.empty()) return info.Env().Undefined();
    napi_value v = PeerErrorsValue(info.Env(), e.data(), e.size());
    return v ? Napi::Value(info.Env(), v) : info.Env().Undefined();
  }

  void Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t len = 0;
    auto* out = info.Length() < 1
                    ? nullptr
                    : static_cast<double*>(TypedArg(
                          env, info[0], napi_float64_array, &len,
                          "counters(out): out must be a Float64Array"));
    if (!out || len < udp::kCounterCount)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "counters(out: Float64Array of " +
                               std::to_string(udp::kCounterCount) + ")");
    for (int i = 0; i < udp::kCounterCount; ++i)
      out[i] = static_cast<double>(counters_[i]);
  }

  uint64_t counters_[udp::kCounterCount] = {};
  uint8_t local_[udp::kPeerSize] = {};
  std::vector<napi_value> values_;
  std::vector<udp::Datagram> datagrams_;
  std::vector<uint32_t> positions_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  Napi::Reference<Napi::Int32Array> meta_;
  Napi::Reference<Napi::Uint8Array> peers_;
  Napi::Reference<Napi::Uint32Array> state_;
};

// udpPeer(address, port): the 24-byte record of a peer (checked).
Napi::Value UdpPeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  udp::Peer p =
      PeerArg(env, info.Length() > 0 ? info[0] : env.Undefined(),
              info.Length() > 1 ? info[1] : env.Undefined(), "address");
  if (p.port == 0)
    throw CodedRangeError(env, "ERR_SOCKET_BAD_PORT",
                          "port must be from 1 to 65535");
  Napi::Uint8Array rec = Napi::Uint8Array::New(env, udp::kPeerSize);
  udp::StorePeer(p, rec.Data());
  return rec;
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports, AddonData*) {
  exports.Set("Udp", Udp::Define(env));
  exports.Set("udpPeer", Napi::Function::New(env, UdpPeer, "udpPeer"));
}

}  // namespace vpn
