// Module entry: each source file registers its own entry points.
#include "common.h"

namespace cs {
void registerCommon(Napi::Env env, Napi::Object exports);
void registerTensor(Napi::Env env, Napi::Object exports);
void registerMath(Napi::Env env, Napi::Object exports);
void registerShape(Napi::Env env, Napi::Object exports);
void registerNn(Napi::Env env, Napi::Object exports);
void registerOptim(Napi::Env env, Napi::Object exports);
void registerExtensions(Napi::Env env, Napi::Object exports);
void registerDistributed(Napi::Env env, Napi::Object exports);
}  // namespace cs

// Runs once per Node environment (main thread, each worker thread): every piece of JS-facing state is
// per environment (cs::initEnvironment), libtorch itself is shared by the process.
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  cs::initEnvironment(env);
  cs::registerCommon(env, exports);
  cs::registerTensor(env, exports);
  cs::registerMath(env, exports);
  cs::registerShape(env, exports);
  cs::registerNn(env, exports);
  cs::registerOptim(env, exports);
  cs::registerExtensions(env, exports);
  cs::registerDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(contraseg_native, Init)
