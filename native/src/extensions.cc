// Fused kernels added by later work (contrastive losses, ...) register here. Each lives in its own
// file and declares a register function below.
#include "common.h"

namespace cs {
void registerExtensions(Napi::Env env, Napi::Object exports) {}
}  // namespace cs
