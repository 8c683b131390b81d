// Crypto binding: AeadKey (a key in native memory; seal/open of a whole
// batch in one call) and ReplayWindow, over native/crypto/aead.h. Batches
// come as the package hands them out (data, meta, stride, count), so a TUN
// PacketBatch or a DatagramBatch is sealed or opened where it lies.
#include <cstring>
#include <memory>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "crypto/aead.h"

namespace vpn {
namespace {

using crypto::Aead;

uint64_t BigArg(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsBigInt())
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         std::string(name) + " must be a bigint");
  bool lossless = false;
  uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless)
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          std::string(name) + " must be from 0 to 2^64 - 1");
  return x;
}

class ReplayWrap : public Napi::ObjectWrap<ReplayWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ReplayWindow",
                       {InstanceMethod<&ReplayWrap::Check>("check"),
                        InstanceMethod<&ReplayWrap::Update>("update"),
                        InstanceMethod<&ReplayWrap::Reset>("reset"),
                        InstanceMethod<&ReplayWrap::Last>("last")});
  }
  explicit ReplayWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ReplayWrap>(info) {}
  crypto::ReplayWindow& window() { return window_; }

 private:
  Napi::Value Check(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(
        info.Env(), window_.Check(BigArg(info.Env(), info[0], "counter")));
  }
  Napi::Value Update(const Napi::CallbackInfo& info) {
    window_.Update(BigArg(info.Env(), info[0], "counter"));
    return info.Env().Undefined();
  }
  Napi::Value Reset(const Napi::CallbackInfo& info) {
    window_.Reset();
    return info.Env().Undefined();
  }
  Napi::Value Last(const Napi::CallbackInfo& info) {
    if (!window_.seen()) return info.Env().Null();
    return Napi::BigInt::New(info.Env(), window_.last());
  }
  crypto::ReplayWindow window_;
};

class AeadWrap : public Napi::ObjectWrap<AeadWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AeadKey",
                       {InstanceMethod<&AeadWrap::Seal>("seal"),
                        InstanceMethod<&AeadWrap::Open>("open"),
                        InstanceMethod<&AeadWrap::Next>("next"),
                        InstanceMethod<&AeadWrap::Close>("close")});
  }

  // new AeadKey(algorithm, key, next, limit): the key is copied into the
  // cipher contexts; the caller's copy is theirs to wipe.
  explicit AeadWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<AeadWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsString())
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "new AeadKey(algorithm, key, next, limit)");
    std::string alg = info[0].As<Napi::String>().Utf8Value();
    crypto::Algorithm a;
    if (alg == "chacha20-poly1305")
      a = crypto::Algorithm::kChaCha20Poly1305;
    else if (alg == "aes-256-gcm")
      a = crypto::Algorithm::kAes256Gcm;
    else
      throw CodedTypeError(env, "ERR_CRYPTO_INVALID_ALGORITHM",
                           "algorithm must be 'chacha20-poly1305' or "
                           "'aes-256-gcm'");
    ByteSpan key = BytesArg(env, info[1], "key");
    if (key.len != crypto::kKeySize)
      throw CodedRangeError(env, "ERR_CRYPTO_INVALID_KEYLEN",
                            "key must be 32 bytes");
    next_ = BigArg(env, info[2], "next");
    limit_ = BigArg(env, info[3], "limit");
    std::string error;
    aead_ = Aead::Create(a, key.data, &error);
    if (!aead_) throw CodedError(env, "ERR_CRYPTO_UNAVAILABLE", error);
  }

 private:
  Aead& Live(Napi::Env env) {
    if (!aead_) throw CodedError(env, "ERR_KEY_CLOSED", "This key is closed.");
    return *aead_;
  }

  // What seal and open share: the batch and its per-entry arrays.
  struct BatchCall {
    crypto::Batch batch{};
    uint8_t* verdicts = nullptr;
    uint64_t* counters = nullptr;
  };

  // An optional typed array with at least `count` elements (nullptr when
  // null or undefined).
  static void* PerEntry(Napi::Env env, Napi::Value v, napi_typedarray_type type,
                        uint32_t count, const char* type_message,
                        const char* name) {
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    size_t n = 0;
    void* p = TypedArg(env, v, type, &n, type_message);
    if (n < count)
      throw CodedRangeError(
          env, "ERR_OUT_OF_RANGE",
          std::string(name) + " must hold an entry per packet of the batch");
    return p;
  }

  // Checks that info has `args` arguments (else a TypeError with `usage`)
  // and reads (data, meta, stride, count, entries, verdicts, counters)
  // from info[0..6].
  BatchCall BatchArgs(const Napi::CallbackInfo& info, size_t args,
                      const char* usage) {
    Napi::Env env = info.Env();
    if (info.Length() < args)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE", usage);
    ByteSpan data = BytesArg(env, info[0], "batch's data");
    size_t nmeta = 0;
    auto* meta = static_cast<int32_t*>(TypedArg(
        env, info[1], napi_int32_array, &nmeta, "meta must be an Int32Array"));
    BatchCall c;
    crypto::Batch& b = c.batch;
    b.data = const_cast<uint8_t*>(data.data);
    b.size = data.len;
    b.meta = meta;
    b.stride = static_cast<uint32_t>(IntArg(env, info[2], "stride", 2, 16));
    b.count = static_cast<uint32_t>(IntArg(
        env, info[3], "count", 0, static_cast<int64_t>(nmeta / b.stride)));
    if (!info[4].IsNull() && !info[4].IsUndefined()) {
      size_t n = 0;
      b.entries = static_cast<const int32_t*>(TypedArg(
          env, info[4], napi_int32_array, &n, "entries must be an Int32Array"));
      b.n = static_cast<uint32_t>(n);
      for (size_t k = 0; k < n; ++k)
        if (b.entries[k] < 0 || static_cast<uint32_t>(b.entries[k]) >= b.count)
          throw CodedRangeError(
              env, "ERR_OUT_OF_RANGE",
              "entries must hold indices below the batch's count");
    }
    c.verdicts = static_cast<uint8_t*>(
        PerEntry(env, info[5], napi_uint8_array, b.count,
                 "verdicts must be a Uint8Array", "verdicts"));
    c.counters = static_cast<uint64_t*>(
        PerEntry(env, info[6], napi_biguint64_array, b.count,
                 "counters must be a BigUint64Array", "counters"));
    return c;
  }

  // seal(data, meta, stride, count, entries, verdicts, counters, counterAt,
  // pad, tailroom): the number sealed.
  Napi::Value Seal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Aead& aead = Live(env);
    BatchCall c =
        BatchArgs(info, 10,
                  "seal(data, meta, stride, count, entries, verdicts, "
                  "counters, counterAt, pad, tailroom)");
    crypto::SealOptions o;
    o.counter_at =
        static_cast<int32_t>(IntArg(env, info[7], "counterAt", -4096, 0));
    if (o.counter_at > -8 && o.counter_at != 0)
      throw CodedRangeError(
          env, "ERR_OUT_OF_RANGE",
          "counterAt must be 0 or -8 or less (8 bytes before the packet)");
    o.pad = static_cast<uint32_t>(IntArg(env, info[8], "pad", 1, 256));
    o.tailroom =
        static_cast<uint32_t>(IntArg(env, info[9], "tailroom", 0, 65535));
    uint32_t n = crypto::SealBatch(aead, &next_, limit_, c.batch, o, c.verdicts,
                                   c.counters);
    return Napi::Number::New(env, n);
  }

  // open(data, meta, stride, count, entries, verdicts, counters, counterAt,
  // skip, replay, trimToIp): the number opened.
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Aead& aead = Live(env);
    BatchCall c =
        BatchArgs(info, 11,
                  "open(data, meta, stride, count, entries, verdicts, "
                  "counters, counterAt, skip, replay, trimToIp)");
    crypto::OpenOptions o;
    o.counter_at =
        static_cast<int32_t>(IntArg(env, info[7], "counterAt", -1, 4096));
    if (o.counter_at < 0 && !c.counters)
      throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                           "open needs counterAt or a counters array");
    o.skip = static_cast<uint32_t>(IntArg(env, info[8], "skip", 0, 4096));
    o.limit = limit_;
    crypto::ReplayWindow* window = nullptr;
    if (!info[9].IsNull() && !info[9].IsUndefined()) {
      Napi::Function ctor = GetAddonData(env)->replay_ctor.Value();
      if (!info[9].IsObject() || !info[9].As<Napi::Object>().InstanceOf(ctor))
        throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                             "replay must be a ReplayWindow");
      window = &ReplayWrap::Unwrap(info[9].As<Napi::Object>())->window();
    }
    o.trim_to_ip = info[10].ToBoolean().Value();
    uint32_t n =
        crypto::OpenBatch(aead, window, c.batch, o, c.verdicts, c.counters);
    return Napi::Number::New(env, n);
  }

  Napi::Value Next(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), next_);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    aead_.reset();  // frees the contexts, which cleanses the key schedule
    return info.Env().Undefined();
  }

  std::unique_ptr<Aead> aead_;
  uint64_t next_ = 0;
  uint64_t limit_ = UINT64_MAX;
};

}  // namespace

void InitCrypto(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function replay = ReplayWrap::Define(env);
  data->replay_ctor = Napi::Persistent(replay);
  exports.Set("ReplayWindow", replay);
  exports.Set("AeadKey", AeadWrap::Define(env));
}

}  // namespace vpn
