// RouteTable binding (issue 3): N-API glue over route::RouteTable
// (native/route/route_table.h, where the design is explained). Everything here
// is argument checking, conversion and memory accounting; lookups of a batch
// are one call. The JS class lib/route/route-table.ts wraps this one.
//
// Errors: bad CIDR text -> TypeError, code ERR_INVALID_CIDR (RangeError with
// the same code when only the prefix length is out of range); bad address
// text -> TypeError ERR_INVALID_IP; value not an integer 0..2^31-1 ->
// RangeError ERR_OUT_OF_RANGE; wrong argument types -> TypeError
// ERR_INVALID_ARG_TYPE. Bulk-load errors carry `index` (the entry's
// position).
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "binding/addon.h"
#include "binding/errors.h"
#include "route/cidr.h"
#include "route/route_table.h"

namespace vpn {

namespace {

using route::BulkError;
using route::BulkResult;
using route::ParseStatus;
using route::u128;

constexpr size_t kMaxText = 64;  // longer than any address or CIDR

// Copies a JS string into buf (NUL-terminated); returns its length, or
// kMaxText when it is longer than any valid address (then it is invalid).
size_t ReadShortString(Napi::Env env, napi_value v, char* buf) {
  size_t len = 0;
  napi_status st = napi_get_value_string_utf8(env, v, buf, kMaxText, &len);
  if (st != napi_ok) NAPI_THROW_IF_FAILED(env, st, 0);
  if (len >= kMaxText - 1) return kMaxText;
  return len;
}

// Copies a JS string that should be a short ASCII text (an address) into
// buf, NUL-terminated, *n its length (kMaxText - 1 or more: too long). Read
// as UTF-16 and narrowed: V8 copies a one-byte string without the UTF-8
// encoder (~3x fewer instructions here), and a character past ASCII becomes
// a byte no parser accepts. napi_string_expected when it is not a string.
napi_status ReadAscii(napi_env env, napi_value v, char* buf, size_t* n) {
  char16_t wide[kMaxText];
  napi_status st = napi_get_value_string_utf16(env, v, wide, kMaxText, n);
  if (st != napi_ok) return st;
  for (size_t i = 0; i < *n; ++i) {
    buf[i] = wide[i] < 0x80 ? static_cast<char>(wide[i]) : '\x7f';
  }
  buf[*n] = '\0';
  return napi_ok;
}

std::string Quote(const char* s, size_t n) {
  std::string out = "\"";
  out.append(s, n > 60 ? 60 : n);
  if (n > 60) out += "...";
  out += "\"";
  return out;
}

[[noreturn]] void ThrowCidr(Napi::Env env, ParseStatus st, bool v6,
                            const std::string& quoted,
                            const std::string& where) {
  std::string msg =
      "Invalid CIDR " + quoted + where + ": " + route::ParseStatusText(st, v6);
  Napi::Error e = st == ParseStatus::kLengthRange
                      ? CodedRangeError(env, "ERR_INVALID_CIDR", msg)
                      : CodedTypeError(env, "ERR_INVALID_CIDR", msg);
  throw e;
}

route::ParsedPrefix ArgPrefix(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsString()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The cidr must be a string such as '10.0.0.0/8'");
  }
  char buf[kMaxText];
  size_t n = ReadShortString(env, info[i], buf);
  route::ParsedPrefix p;
  if (n == kMaxText) {
    ThrowCidr(env, ParseStatus::kBadAddress, false,
              Quote(buf, std::strlen(buf)), "");
  }
  ParseStatus st = route::ParsePrefix(buf, n, &p);
  if (st != ParseStatus::kOk) ThrowCidr(env, st, p.v6, Quote(buf, n), "");
  return p;
}

int32_t ArgValue(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The value must be a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 2147483647.0) || d != std::floor(d)) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                          "The value must be an integer from 0 to "
                          "2147483647; received " +
                              info[i].ToString().Utf8Value());
  }
  return static_cast<int32_t>(d);
}

// An address argument: a string, or an IPv4 address as an unsigned 32-bit
// integer.
struct Address {
  bool v6 = false;
  uint32_t a4 = 0;
  u128 a6 = 0;
};

Address ArgAddress(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  Address a;
  napi_valuetype t = napi_undefined;
  if (info.Length() > i) napi_typeof(env, info[i], &t);
  if (t == napi_number) {
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
      throw CodedRangeError(env, "ERR_OUT_OF_RANGE",
                            "An IPv4 address as a number must be an integer "
                            "from 0 to 4294967295");
    }
    a.a4 = static_cast<uint32_t>(d);
    return a;
  }
  if (t != napi_string) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "The address must be a string or an IPv4 address as "
                         "an unsigned 32-bit number");
  }
  char buf[kMaxText];
  size_t n = ReadShortString(env, info[i], buf);
  route::ParsedAddress pa;
  if (n == kMaxText || route::ParseAddress(buf, n, &pa) != ParseStatus::kOk) {
    throw CodedTypeError(env, "ERR_INVALID_IP",
                         "Invalid IP address " +
                             Quote(buf, n == kMaxText ? std::strlen(buf) : n));
  }
  a.v6 = pa.v6;
  a.a4 = pa.addr4;
  a.a6 = pa.addr6;
  return a;
}

template <typename T>
T ArgTyped(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want,
           const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != want) {
    throw CodedTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                         std::string("The ") + what);
  }
  return info[i].As<T>();
}

// The parts of a bulk load taken from JS on the calling thread: the text,
// the entry count, the values (copied, so that a worker can use them).
struct BulkInput {
  // The text: a view of the caller's memory (synchronous insertMany of a
  // Uint8Array), or (data null) `text` itself.
  const char* data = nullptr;
  size_t len = 0;
  std::string text;
  // Or (buildAsync from lib/route) the text in pieces, one or more whole
  // entries each, Uint8Arrays that the caller made for this call and keeps
  // referenced until it is done: the worker joins them with '\n', so that
  // no copy of a 15 MB list happens on the event loop.
  std::vector<std::pair<const char*, size_t>> pieces;
  std::vector<Napi::Reference<Napi::Value>> refs;
  size_t count = 0;             // or RouteTable::kCountLines
  std::vector<int32_t> values;  // empty: `value` for all
  bool have_values = false;
  int32_t value = 0;
};

// (text, count, values). text: a string of `count` entries joined by '\n';
// a Uint8Array of such text (count -1: however many lines it holds, a
// final '\n' allowed); or an array of Uint8Array pieces (see BulkInput).
// `own`: copy a Uint8Array's text (for a worker: the caller's buffer could
// change or be detached meanwhile).
BulkInput ArgBulk(const Napi::CallbackInfo& info, bool own) {
  Napi::Env env = info.Env();
  BulkInput in;
  bool pieces = info.Length() > 0 && info[0].IsArray();
  bool bytes =
      info.Length() > 0 && info[0].IsTypedArray() &&
      info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  if (info.Length() < 3 || !(info[0].IsString() || pieces || bytes) ||
      !info[1].IsNumber()) {
    throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                         "insertMany(text, count, values) takes a string or "
                         "a Uint8Array, a count and an Int32Array or a number");
  }
  if (pieces) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsTypedArray() ||
          v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw CodedTypeError(env, "ERR_INVALID_ARG_TYPE",
                             "The text pieces must be Uint8Arrays");
      }
      Napi::Uint8Array u = v.As<Napi::Uint8Array>();
      in.pieces.emplace_back(reinterpret_cast<const char*>(u.Data()),
                             u.ElementLength());
      in.refs.push_back(Napi::Persistent(v));
    }
  } else if (bytes) {
    Napi::Uint8Array u = info[0].As<Napi::Uint8Array>();
    const char* d = reinterpret_cast<const char*>(u.Data());
    if (own) {
      in.text.assign(d, u.ElementLength());
    } else {
      in.data = d;
      in.len = u.ElementLength();
    }
  } else {
    in.text = info[0].As<Napi::String>().Utf8Value();
  }
  double c = info[1].As<Napi::Number>().DoubleValue();
  if (c == -1 && bytes) {
    in.count = route::RouteTable::kCountLines;
  } else if (!(c >= 0 && c <= 2147483647.0) || c != std::floor(c)) {
    throw CodedRangeError(env, "ERR_OUT_OF_RANGE", "Bad entry count");
  } else {
    in.count = static_cast<size_t>(c);
  }
  if (info[2].IsNumber()) {
    in.value = ArgValue(info, 2);
    return in;
  }
  auto values = ArgTyped<Napi::Int32Array>(info, 2, napi_int32_array,
                                           "values must be an Int32Array");
  if (in.count != route::RouteTable::kCountLines &&
      values.ElementLength() != in.count) {
    throw CodedRangeError(
        env, "ERR_OUT_OF_RANGE",
        "values has " + std::to_string(values.ElementLength()) +
            " entries for " + std::to_string(in.count) + " prefixes");
  }
  in.have_values = true;
  in.values.assign(values.Data(), values.Data() + values.ElementLength());
  for (size_t i = 0; i < in.values.size(); ++i) {
    if (in.values[i] < 0) {
      Napi::Error e = CodedRangeError(
          env, "ERR_OUT_OF_RANGE",
          "values[" + std::to_string(i) +
              "] must be an integer from 0 to 2147483647; received " +
              std::to_string(in.values[i]));
      e.Set("index", Napi::Number::New(env, static_cast<double>(i)));
      throw e;
    }
  }
  return in;
}

// Joins the pieces (if any) into in->text, on whichever thread runs it.
void JoinPieces(BulkInput* in) {
  if (in->pieces.empty()) return;
  size_t total = in->pieces.size() - 1;
  for (const auto& p : in->pieces) total += p.second;
  in->text.clear();
  in->text.reserve(total);
  for (size_t i = 0; i < in->pieces.size(); ++i) {
    if (i != 0) in->text += '\n';
    in->text.append(in->pieces[i].first, in->pieces[i].second);
  }
  in->data = in->text.data();
  in->len = in->text.size();
}

bool RunBulk(route::RouteTable* t, const BulkInput& in, BulkResult* r,
             BulkError* err) {
  const char* text = in.data ? in.data : in.text.data();
  size_t len = in.data ? in.len : in.text.size();
  return t->InsertMany(text, len, in.count,
                       in.have_values ? in.values.data() : nullptr,
                       in.values.size(), in.value, r, err);
}

Napi::Error BulkFailure(Napi::Env env, const BulkError& err) {
  if (err.kind == BulkError::kCount) {
    return CodedTypeError(env, "ERR_INVALID_CIDR",
                          "The entries do not match their count (an entry "
                          "holds a newline?)");
  }
  if (err.kind == BulkError::kValueCount) {
    return CodedRangeError(env, "ERR_OUT_OF_RANGE",
                           "values has " + std::to_string(err.index) +
                               " entries for " + std::to_string(err.lines) +
                               " prefixes");
  }
  std::string msg = "Invalid CIDR " +
                    Quote(err.entry.data(), err.entry.size()) + " at index " +
                    std::to_string(err.index) + ": " +
                    route::ParseStatusText(err.status, err.v6);
  Napi::Error e = err.status == ParseStatus::kLengthRange
                      ? CodedRangeError(env, "ERR_INVALID_CIDR", msg)
                      : CodedTypeError(env, "ERR_INVALID_CIDR", msg);
  e.Set("index", Napi::Number::New(env, static_cast<double>(err.index)));
  return e;
}

Napi::Object BulkReport(Napi::Env env, const BulkResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, static_cast<double>(r.count)));
  o.Set("added", Napi::Number::New(env, static_cast<double>(r.added)));
  o.Set("replaced", Napi::Number::New(env, static_cast<double>(r.replaced)));
  o.Set("masked", Napi::Number::New(env, static_cast<double>(r.masked)));
  Napi::Array idx = Napi::Array::New(env, r.masked_index.size());
  for (size_t i = 0; i < r.masked_index.size(); ++i) {
    idx.Set(static_cast<uint32_t>(i),
            Napi::Number::New(env, static_cast<double>(r.masked_index[i])));
  }
  o.Set("maskedIndex", idx);
  Napi::Array text = Napi::Array::New(env, r.masked_text.size());
  for (size_t i = 0; i < r.masked_text.size(); ++i) {
    text.Set(static_cast<uint32_t>(i),
             Napi::String::New(env, r.masked_text[i]));
  }
  o.Set("maskedText", text);
  return o;
}

class RouteTableWrap : public Napi::ObjectWrap<RouteTableWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "RouteTable",
        {
            InstanceMethod<&RouteTableWrap::Insert>("insert"),
            InstanceMethod<&RouteTableWrap::Delete>("delete"),
            InstanceMethod<&RouteTableWrap::Get>("get"),
            InstanceMethod<&RouteTableWrap::LookupPrefix>("lookupPrefix"),
            InstanceMethod<&RouteTableWrap::InsertMany>("insertMany"),
            InstanceMethod<&RouteTableWrap::Clear>("clear"),
            InstanceMethod<&RouteTableWrap::Entries>("entries"),
            InstanceAccessor<&RouteTableWrap::Size>("size"),
            InstanceAccessor<&RouteTableWrap::Size4>("size4"),
            InstanceAccessor<&RouteTableWrap::Size6>("size6"),
            InstanceAccessor<&RouteTableWrap::Bytes>("bytes"),
            InstanceAccessor<&RouteTableWrap::ControlBytes>("controlBytes"),
            InstanceAccessor<&RouteTableWrap::Rebuilding>("rebuilding"),
            StaticMethod<&RouteTableWrap::BuildAsync>("buildAsync"),
            StaticMethod<&RouteTableWrap::Normalize>("normalize"),
        });
  }

  explicit RouteTableWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<RouteTableWrap>(info),
        table_(std::make_unique<route::RouteTable>()) {
    if (!route::CpuSupported()) {
      throw CodedError(info.Env(), "ERR_CPU_UNSUPPORTED",
                       "RouteTable needs a CPU with the POPCNT instruction");
    }
    handle_ = new Handle{this, 1};
    DefineHot(info.Env(), info.This());
    table_->set_defer_rebuilds(true);
  }

  ~RouteTableWrap() override {
    // Runs in the finalizer; adjusting external memory is allowed there.
    if (reported_ != 0) {
      Napi::MemoryManagement::AdjustExternalMemory(
          Env(), -static_cast<int64_t>(reported_));
    }
    handle_->wrap = nullptr;
    Release(handle_);
  }

  // Takes over a table built elsewhere (by BuildAsync's worker).
  void Adopt(std::unique_ptr<route::RouteTable> t) {
    table_ = std::move(t);
    table_->set_defer_rebuilds(true);
    Account();
  }

  // A rebuild of the lookup structure made on a libuv worker (after a
  // burst of changes to a big table) is done: hand it in, and start the
  // next one if the changes made meanwhile call for it.
  void FinishRebuild(route::RouteTable::RebuildJob* job, bool ok) {
    rebuilding_ = false;
    if (ok) {
      table_->FinishRebuild(job);
    } else {
      table_->AbandonRebuild();  // out of memory: rebuild in place instead
    }
    Account();
    StartRebuild();
  }

 private:
  // Tells V8 how much native memory this table holds (both structures),
  // so that GC pressure reflects it.
  void Account() {
    size_t now = table_->lookup_bytes() + table_->control_bytes();
    if (now != reported_) {
      Napi::MemoryManagement::AdjustExternalMemory(
          Env(), static_cast<int64_t>(now) - static_cast<int64_t>(reported_));
      reported_ = now;
    }
  }

  // Applies pending changes before a lookup, accounting for the new size;
  // a burst of changes to a big table starts a rebuild on a worker instead.
  void Sync() {
    if (!table_->synced()) {
      table_->Sync();
      Account();
      StartRebuild();
    }
  }

  void StartRebuild();

  Napi::Value Insert(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    int32_t v = ArgValue(info, 1);
    bool added = p.v6 ? table_->Insert6(p.addr6, p.len, v)
                      : table_->Insert4(p.addr4, p.len, v);
    if (added) Account();
    return Napi::Boolean::New(info.Env(), added);
  }

  Napi::Value Delete(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    bool had =
        p.v6 ? table_->Erase6(p.addr6, p.len) : table_->Erase4(p.addr4, p.len);
    return Napi::Boolean::New(info.Env(), had);
  }

  // Exact match: the value of this very prefix, or -1.
  Napi::Value Get(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    int32_t v = -1;
    bool found = p.v6 ? table_->Get6(p.addr6, p.len, &v)
                      : table_->Get4(p.addr4, p.len, &v);
    return Napi::Number::New(info.Env(), found ? v : -1);
  }

  // [prefix, value] of the longest match, or null.
  Napi::Value LookupPrefix(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Address a = ArgAddress(info, 0);
    int32_t v = -1;
    int len = a.v6 ? table_->Match6(a.a6, &v) : table_->Match4(a.a4, &v);
    if (len < 0) return env.Null();
    std::string prefix =
        a.v6 ? route::FormatPrefix6(a.a6 & route::Mask<u128>(len), len)
             : route::FormatPrefix4(a.a4 & route::Mask<uint32_t>(len), len);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::String::New(env, prefix));
    out.Set(1u, Napi::Number::New(env, v));
    return out;
  }

  Napi::Value InsertMany(const Napi::CallbackInfo& info) {
    BulkInput in = ArgBulk(info, false);
    JoinPieces(&in);
    BulkResult r;
    BulkError err;
    if (!RunBulk(table_.get(), in, &r, &err)) {
      throw BulkFailure(info.Env(), err);
    }
    Account();
    return BulkReport(info.Env(), r);
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    table_->Clear();
    Account();
    return info.Env().Undefined();
  }

  // All entries, sorted: [cidrs: string[], values: Int32Array].
  Napi::Value Entries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<route::Entry<uint32_t>> e4;
    std::vector<route::Entry<u128>> e6;
    table_->family4().cp.CollectAll(&e4);
    table_->family6().cp.CollectAll(&e6);
    size_t n = e4.size() + e6.size();
    Napi::Array cidrs = Napi::Array::New(env, n);
    Napi::Int32Array values = Napi::Int32Array::New(env, n);
    uint32_t i = 0;
    for (const auto& e : e4) {
      cidrs.Set(i, Napi::String::New(env, route::FormatPrefix4(e.key, e.len)));
      values[i++] = e.value;
    }
    for (const auto& e : e6) {
      cidrs.Set(i, Napi::String::New(env, route::FormatPrefix6(e.key, e.len)));
      values[i++] = e.value;
    }
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, cidrs);
    out.Set(1u, values);
    return out;
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size()));
  }
  Napi::Value Size4(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size4()));
  }
  Napi::Value Size6(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(table_->size6()));
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    Sync();
    return Napi::Number::New(info.Env(),
                             static_cast<double>(table_->lookup_bytes()));
  }
  Napi::Value Rebuilding(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), table_->rebuilding());
  }
  Napi::Value ControlBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(),
                             static_cast<double>(table_->control_bytes()));
  }

  // The canonical form of a CIDR ("10.1.2.3/8" -> "10.0.0.0/8").
  static Napi::Value Normalize(const Napi::CallbackInfo& info) {
    route::ParsedPrefix p = ArgPrefix(info, 0);
    return Napi::String::New(info.Env(),
                             p.v6 ? route::FormatPrefix6(p.addr6, p.len)
                                  : route::FormatPrefix4(p.addr4, p.len));
  }

  // buildAsync(text, count, values) -> Promise<native RouteTable>: parses,
  // sorts and builds a new table on a libuv worker thread. Only the copy of
  // the text and values happens on the calling thread.
  static Napi::Value BuildAsync(const Napi::CallbackInfo& info);

  // ---- The hot methods, in raw N-API, as functions of each instance that
  // carry the instance's C++ object in their data: one napi_get_cb_info and
  // no napi_unwrap (a private-property lookup, ~800 instructions, more than
  // the rest of a lookup() call), no wrapper objects. Through
  // node-addon-api's ObjectWrap and TypedArray helpers a call cost ~3x more
  // (lookupBatch4 of one address: ~440 ns vs ~150 ns).

  // What the hot functions hold: the object, until it is finalized, and a
  // count of the holders (the object and each function), all on the JS
  // thread.
  struct Handle {
    RouteTableWrap* wrap;
    uint32_t refs;
  };
  static void Release(Handle* h) {
    if (--h->refs == 0) delete h;
  }

  // Defines lookup, lookup4, lookupBatch4, lookupBatch6 and classify on
  // the new object itself (not writable, not enumerable).
  void DefineHot(Napi::Env env, Napi::Value self) {
    struct {
      const char* name;
      napi_callback cb;
    } methods[] = {{"lookup", RawLookup},
                   {"lookup4", RawLookup4},
                   {"lookupBatch4", RawLookupBatch4},
                   {"lookupBatch6", RawLookupBatch6},
                   {"classify", RawClassify}};
    constexpr size_t kCount = sizeof methods / sizeof methods[0];
    napi_property_descriptor props[kCount];
    for (size_t i = 0; i < kCount; ++i) {
      napi_value fn;
      NAPI_THROW_IF_FAILED_VOID(
          env, napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH,
                                    methods[i].cb, handle_, &fn));
      ++handle_->refs;
      NAPI_THROW_IF_FAILED_VOID(env, napi_add_finalizer(
                                         env, fn, handle_,
                                         [](napi_env, void* data, void*) {
                                           Release(static_cast<Handle*>(data));
                                         },
                                         nullptr, nullptr));
      props[i] = napi_property_descriptor{methods[i].name, nullptr, nullptr,
                                          nullptr,         nullptr, fn,
                                          napi_default,    nullptr};
    }
    NAPI_THROW_IF_FAILED_VOID(env,
                              napi_define_properties(env, self, kCount, props));
  }

 private:
  static RouteTableWrap* Self(napi_env env, napi_callback_info cb, size_t* argc,
                              napi_value* argv) {
    void* data = nullptr;
    if (napi_get_cb_info(env, cb, argc, argv, nullptr, &data) != napi_ok) {
      return nullptr;
    }
    RouteTableWrap* w = static_cast<Handle*>(data)->wrap;
    if (w == nullptr) {
      throw CodedError(Napi::Env(env), "ERR_INVALID_STATE",
                       "This RouteTable has been released");
    }
    return w;
  }

  template <typename T>
  static T* TypedArg(napi_env env, napi_value v, napi_typedarray_type want,
                     size_t* length, const char* what) {
    napi_typedarray_type type;
    void* data = nullptr;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, v, &type, length, &data, &ab, &offset) !=
            napi_ok ||
        type != want) {
      throw CodedTypeError(Napi::Env(env), "ERR_INVALID_ARG_TYPE",
                           std::string("The ") + what);
    }
    return static_cast<T*>(data);
  }

  static napi_value Int(napi_env env, double v) {
    napi_value r = nullptr;
    napi_create_double(env, v, &r);
    return r;
  }

  // Runs a raw method body, turning a thrown Napi::Error into a pending JS
  // exception (C++ exceptions must not cross a raw napi_callback).
  template <typename F>
  static napi_value Guard(napi_env env, F&& body) {
    try {
      return body();
    } catch (const Napi::Error& e) {
      e.ThrowAsJavaScriptException();
    } catch (const std::bad_alloc&) {
      Napi::Error::New(Napi::Env(env), "out of memory")
          .ThrowAsJavaScriptException();
    }
    return nullptr;
  }

  static napi_value RawLookup(napi_env env, napi_callback_info cb) {
    return Guard(env, [&]() -> napi_value {
      size_t argc = 1;
      napi_value argv[1];
      RouteTableWrap* w = Self(env, cb, &argc, argv);
      if (w == nullptr) return nullptr;
      // A string first, without asking its type (the common case).
      char buf[kMaxText];
      size_t n = 0;
      napi_status st = ReadAscii(env, argv[0], buf, &n);
      napi_valuetype t = napi_string;
      if (st == napi_string_expected) napi_typeof(env, argv[0], &t);
      Address a;
      if (t == napi_number) {
        double d = 0;
        napi_get_value_double(env, argv[0], &d);
        if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d)) {
          throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                                "An IPv4 address as a number must be an "
                                "integer from 0 to 4294967295");
        }
        a.a4 = static_cast<uint32_t>(d);
      } else if (t == napi_string) {
        route::ParsedAddress pa;
        if (st != napi_ok || n >= kMaxText - 1 ||
            route::ParseAddress(buf, n, &pa) != ParseStatus::kOk) {
          // Again as UTF-8, for the message.
          napi_get_value_string_utf8(env, argv[0], buf, kMaxText, &n);
          throw CodedTypeError(Napi::Env(env), "ERR_INVALID_IP",
                               "Invalid IP address " + Quote(buf, n));
        }
        a.v6 = pa.v6;
        a.a4 = pa.addr4;
        a.a6 = pa.addr6;
      } else {
        throw CodedTypeError(Napi::Env(env), "ERR_INVALID_ARG_TYPE",
                             "The address must be a string or an IPv4 "
                             "address as an unsigned 32-bit number");
      }
      w->Sync();
      int32_t v = a.v6 ? w->table_->Lookup6(a.a6) : w->table_->Lookup4(a.a4);
      napi_value r = nullptr;
      napi_create_int32(env, v, &r);
      return r;
    });
  }

  // The fast path for an IPv4 number (the JS side has checked it).
  static napi_value RawLookup4(napi_env env, napi_callback_info cb) {
    return Guard(env, [&]() -> napi_value {
      size_t argc = 1;
      napi_value argv[1];
      RouteTableWrap* w = Self(env, cb, &argc, argv);
      if (w == nullptr) return nullptr;
      uint32_t a = 0;
      napi_get_value_uint32(env, argv[0], &a);
      w->Sync();
      napi_value r = nullptr;
      napi_create_int32(env, w->table_->Lookup4(a), &r);
      return r;
    });
  }

  static napi_value RawLookupBatch4(napi_env env, napi_callback_info cb) {
    return Guard(env, [&]() -> napi_value {
      size_t argc = 2;
      napi_value argv[2];
      RouteTableWrap* w = Self(env, cb, &argc, argv);
      if (w == nullptr) return nullptr;
      size_t n = 0, m = 0;
      uint32_t* a = TypedArg<uint32_t>(env, argv[0], napi_uint32_array, &n,
                                       "addresses must be a Uint32Array");
      int32_t* out = TypedArg<int32_t>(env, argv[1], napi_int32_array, &m,
                                       "out must be an Int32Array");
      if (m < n) {
        throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                              "out is shorter than the addresses");
      }
      w->Sync();
      w->table_->LookupBatch4(a, out, n);
      return Int(env, static_cast<double>(n));
    });
  }

  static napi_value RawLookupBatch6(napi_env env, napi_callback_info cb) {
    return Guard(env, [&]() -> napi_value {
      size_t argc = 2;
      napi_value argv[2];
      RouteTableWrap* w = Self(env, cb, &argc, argv);
      if (w == nullptr) return nullptr;
      size_t bytes = 0, m = 0;
      uint8_t* a = TypedArg<uint8_t>(
          env, argv[0], napi_uint8_array, &bytes,
          "addresses must be a Uint8Array of 16-byte addresses");
      int32_t* out = TypedArg<int32_t>(env, argv[1], napi_int32_array, &m,
                                       "out must be an Int32Array");
      if (bytes % 16 != 0) {
        throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                              "The addresses' length must be a multiple of 16");
      }
      size_t n = bytes / 16;
      if (m < n) {
        throw CodedRangeError(Napi::Env(env), "ERR_OUT_OF_RANGE",
                              "out is shorter than the addresses");
      }
      w->Sync();
      w->table_->LookupBatch6(a, out, n);
      return Int(env, static_cast<double>(n));
    });
  }

  static napi_value RawClassify(napi_env env, napi_callback_info cb) {
    return Guard(env, [&]() -> napi_value {
      size_t argc = 4;
      napi_value argv[4];
      RouteTableWrap* w = Self(env, cb, &argc, argv);
      if (w == nullptr) return nullptr;
      Napi::Env e(env);
      size_t nd = 0, nm = 0, no = 0;
      uint8_t* data = TypedArg<uint8_t>(env, argv[0], napi_uint8_array, &nd,
                                        "data must be a Uint8Array");
      int32_t* meta = TypedArg<int32_t>(env, argv[1], napi_int32_array, &nm,
                                        "meta must be an Int32Array");
      int32_t* out = TypedArg<int32_t>(env, argv[3], napi_int32_array, &no,
                                       "out must be an Int32Array");
      double c = -1;
      if (napi_get_value_double(env, argv[2], &c) != napi_ok) {
        throw CodedTypeError(e, "ERR_INVALID_ARG_TYPE",
                             "count must be a number");
      }
      if (!(c >= 0) || c != std::floor(c) || c * 2 > nm || c > no) {
        throw CodedRangeError(e, "ERR_OUT_OF_RANGE",
                              "count must be an integer with meta.length >= "
                              "2 * count and out.length >= count");
      }
      size_t count = static_cast<size_t>(c);
      w->Sync();
      ptrdiff_t bad = w->table_->Classify(data, nd, meta, count, out);
      if (bad >= 0) {
        Napi::Error err = CodedRangeError(
            e, "ERR_OUT_OF_RANGE",
            "Packet " + std::to_string(bad) + " (offset " +
                std::to_string(meta[2 * bad]) + ", length " +
                std::to_string(meta[2 * bad + 1]) + ") lies outside data");
        err.Set("index", Napi::Number::New(e, static_cast<double>(bad)));
        throw err;
      }
      return Int(env, static_cast<double>(count));
    });
  }

  std::unique_ptr<route::RouteTable> table_;
  size_t reported_ = 0;
  Handle* handle_ = nullptr;
  bool rebuilding_ = false;  // a RebuildWorker is under way
};

// Builds a new lookup structure from a snapshot of the control plane on a
// libuv worker. It holds the table's JS object, so the table outlives it.
class RebuildWorker : public Napi::AsyncWorker {
 public:
  RebuildWorker(Napi::Object table, RouteTableWrap* wrap,
                std::unique_ptr<route::RouteTable::RebuildJob> job)
      : Napi::AsyncWorker(table.Env(), "vpn-provider:RouteTable.rebuild"),
        table_(Napi::Persistent(table)),
        wrap_(wrap),
        job_(std::move(job)) {}

 protected:
  void Execute() override {
    try {
      job_->Run();
    } catch (const std::bad_alloc&) {
      SetError("out of memory rebuilding the route table");
    }
  }
  void OnOK() override { wrap_->FinishRebuild(job_.get(), true); }
  void OnError(const Napi::Error&) override {
    wrap_->FinishRebuild(job_.get(), false);
  }

 private:
  Napi::ObjectReference table_;  // keeps wrap_ alive
  RouteTableWrap* wrap_;
  std::unique_ptr<route::RouteTable::RebuildJob> job_;
};

void RouteTableWrap::StartRebuild() {
  if (rebuilding_) return;
  std::unique_ptr<route::RouteTable::RebuildJob> job = table_->TakeRebuild();
  if (!job) return;
  rebuilding_ = true;
  (new RebuildWorker(Value(), this, std::move(job)))->Queue();
}

class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, BulkInput in)
      : Napi::AsyncWorker(env, "vpn-provider:RouteTable.buildAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        in_(std::move(in)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      JoinPieces(&in_);
      table_ = std::make_unique<route::RouteTable>();
      ok_ = RunBulk(table_.get(), in_, &result_, &error_);
    } catch (const std::bad_alloc&) {
      SetError("out of memory building the route table");
    }
    std::string().swap(in_.text);
    std::vector<int32_t>().swap(in_.values);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!ok_) {
      deferred_.Reject(BulkFailure(env, error_).Value());
      return;
    }
    AddonData* data = GetAddonData(env);
    Napi::Object obj = data->route_table_ctor.New({});
    RouteTableWrap::Unwrap(obj)->Adopt(std::move(table_));
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, obj);
    out.Set(1u, BulkReport(env, result_));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(CodedError(Env(), "ENOMEM", e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  BulkInput in_;
  std::unique_ptr<route::RouteTable> table_;
  BulkResult result_;
  BulkError error_;
  bool ok_ = false;
};

Napi::Value RouteTableWrap::BuildAsync(const Napi::CallbackInfo& info) {
  if (!route::CpuSupported()) {
    throw CodedError(info.Env(), "ERR_CPU_UNSUPPORTED",
                     "RouteTable needs a CPU with the POPCNT instruction");
  }
  BulkInput in = ArgBulk(info, true);
  auto* w = new BuildWorker(info.Env(), std::move(in));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitRouteTable(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = RouteTableWrap::Define(env);
  data->route_table_ctor = Napi::Persistent(ctor);
  exports.Set("RouteTable", ctor);
}

}  // namespace vpn
