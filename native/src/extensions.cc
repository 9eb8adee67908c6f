// Fused kernels added by later work (contrastive losses, ...) register here. Each lives in its own
// file and declares a register function below.
#include "common.h"

namespace cs {
void registerContrastiveKernel(Napi::Env env, Napi::Object exports);
void registerContrastiveSupervised(Napi::Env env, Napi::Object exports);
void registerContrastiveOfficial(Napi::Env env, Napi::Object exports);

void registerExtensions(Napi::Env env, Napi::Object exports) {
  registerContrastiveKernel(env, exports);
  registerContrastiveSupervised(env, exports);
  registerContrastiveOfficial(env, exports);
}
}  // namespace cs
