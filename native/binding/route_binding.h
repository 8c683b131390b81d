// RouteTable binding: N-API glue over route::RouteTable
// (native/route/route_table.h, where the design is explained), in three
// files along its jobs:
//   route_binding.cc  the wrapped object: its methods, argument checks,
//                     memory accounting, and the rebuild worker
//   route_hot.cc      the hot methods (lookup, lookupBatch4/6, classify) in
//                     raw N-API, one prologue for all
//   route_bulk.cc     bulk loads: the text input, its report and errors, and
//                     buildAsync's worker
// The JS class lib/route/route-table.ts wraps this one.
//
// Errors: bad CIDR text -> TypeError, code ERR_INVALID_CIDR (RangeError with
// the same code when only the prefix length is out of range); bad address
// text -> TypeError ERR_INVALID_IP; value not an integer 0..2^31-1 ->
// RangeError ERR_OUT_OF_RANGE; wrong argument types -> TypeError
// ERR_INVALID_ARG_TYPE. Bulk-load errors carry `index` (the entry's
// position).
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "route/cidr.h"
#include "route/route_table.h"

namespace vpn {

// ---- Bulk input (route_bulk.cc)

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

// (text, count, values) of insertMany / buildAsync. `own`: copy a
// Uint8Array's text (for a worker: the caller's buffer could change or be
// detached meanwhile).
BulkInput BulkArgs(const Napi::CallbackInfo& info, bool own);
// Joins the pieces (if any), then loads the table; false with *err set on a
// bad entry. Runs on any thread.
bool RunBulk(route::RouteTable* t, BulkInput* in, route::BulkResult* r,
             route::BulkError* err);
Napi::Error BulkFailure(Napi::Env env, const route::BulkError& err);
Napi::Object BulkReport(Napi::Env env, const route::BulkResult& r);
// buildAsync(text, count, values) -> Promise<[table, report]>.
Napi::Value BuildAsync(const Napi::CallbackInfo& info);

// ---- Arguments (route_binding.cc)

// A value: an integer from 0 to 2^31-1.
int32_t ValueArg(const Napi::CallbackInfo& info, size_t i);
// A CIDR string.
route::ParsedPrefix PrefixArg(const Napi::CallbackInfo& info, size_t i);
// An address: a string, or an IPv4 address as an unsigned 32-bit integer.
struct LookupKey {
  bool v6 = false;
  uint32_t a4 = 0;
  route::u128 a6 = 0;
};
LookupKey AddressArg(napi_env env, napi_value v);

// ---- The wrapped object (route_binding.cc)

class RouteTableWrap : public Napi::ObjectWrap<RouteTableWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RouteTableWrap(const Napi::CallbackInfo& info);
  ~RouteTableWrap() override;

  route::RouteTable* table() { return table_.get(); }
  // Takes over a table built elsewhere (by buildAsync's worker).
  void Adopt(std::unique_ptr<route::RouteTable> t);
  // A rebuild made on a libuv worker is done: hand it in, and start the
  // next one if the changes made meanwhile call for it.
  void FinishRebuild(route::RouteTable::RebuildJob* job, bool ok);
  // Applies pending changes before a lookup, accounting for the new size;
  // a burst of changes to a big table starts a rebuild on a worker instead.
  void Sync() {
    if (!table_->synced()) {
      table_->Sync();
      Account();
      StartRebuild();
    }
  }

  // What the hot functions (route_hot.cc) hold: the object, until it is
  // finalized, and a count of the holders (the object and each function),
  // all on the JS thread.
  struct Handle {
    RouteTableWrap* wrap;
    uint32_t refs;
  };
  static void Release(Handle* h) {
    if (--h->refs == 0) delete h;
  }

 private:
  // Tells V8 how much native memory this table holds (both structures),
  // so that GC pressure reflects it.
  void Account();
  void StartRebuild();

  Napi::Value Insert(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value LookupPrefix(const Napi::CallbackInfo& info);
  Napi::Value InsertMany(const Napi::CallbackInfo& info);
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value Entries(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Size4(const Napi::CallbackInfo& info);
  Napi::Value Size6(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value ControlBytes(const Napi::CallbackInfo& info);
  Napi::Value Rebuilding(const Napi::CallbackInfo& info);
  static Napi::Value Normalize(const Napi::CallbackInfo& info);

  std::unique_ptr<route::RouteTable> table_;
  size_t reported_ = 0;
  Handle* handle_ = nullptr;
  bool rebuilding_ = false;  // a RebuildWorker is under way
};

// Defines lookup, lookup4, lookupBatch4, lookupBatch6 and classify on a
// new table object itself (route_hot.cc).
void DefineHotMethods(Napi::Env env, Napi::Value self,
                      RouteTableWrap::Handle* handle);

// "RouteTable needs a CPU with the POPCNT instruction", unless it has one.
void RequireCpu(Napi::Env env);

}  // namespace vpn
