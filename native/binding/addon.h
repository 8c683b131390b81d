// Per-environment state of the addon (one per main thread or worker), kept
// with SetInstanceData so that nothing native is static.
#pragma once

#include <napi.h>

namespace vpn {

struct AddonData {
  Napi::FunctionReference tun_ctor;
  Napi::FunctionReference route_table_ctor;
  Napi::FunctionReference replay_ctor;
};

AddonData* GetAddonData(Napi::Env env);
Napi::Object Init(Napi::Env env, Napi::Object exports);

// Each part of the native surface adds its functions to `exports`.
void InitTun(Napi::Env env, Napi::Object exports, AddonData* data);
void InitNetlink(Napi::Env env, Napi::Object exports, AddonData* data);
void InitMonitor(Napi::Env env, Napi::Object exports, AddonData* data);
void InitFs(Napi::Env env, Napi::Object exports, AddonData* data);
void InitRouteTable(Napi::Env env, Napi::Object exports, AddonData* data);
void InitUdp(Napi::Env env, Napi::Object exports, AddonData* data);
void InitCrypto(Napi::Env env, Napi::Object exports, AddonData* data);

}  // namespace vpn
