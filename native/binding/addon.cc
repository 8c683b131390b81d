// The addon's entry point: per-environment data, then each part's functions.
// The JS side reaches all of it through lib/native.ts only.
#include "binding/addon.h"

namespace vpn {

AddonData* GetAddonData(Napi::Env env) {
  return env.GetInstanceData<AddonData>();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);  // deleted with the environment
  InitTun(env, exports, data);
  InitNetlink(env, exports, data);
  InitMonitor(env, exports, data);
  InitFs(env, exports, data);
  InitRouteTable(env, exports, data);
  InitUdp(env, exports, data);
  InitCrypto(env, exports, data);
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace vpn

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return vpn::Init(env, exports);
}

NODE_API_MODULE(vpn_provider, InitAddon)
