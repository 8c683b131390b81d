// RouteTable binding: filled in by the route-table work (issue 3).
#include "binding/addon.h"

namespace vpn {

void InitRouteTable(Napi::Env, Napi::Object, AddonData*) {}

}  // namespace vpn
