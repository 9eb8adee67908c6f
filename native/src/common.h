// Shared plumbing of the addon: tensor handles, argument parsing, and the error guard that turns every
// C++ exception into a JS exception (never an abort).
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <string>
#include <vector>

namespace cs {

// Per-environment state (error class, handle accounting); called once by the module initialiser of
// every Node environment (main thread, worker threads) that loads the addon.
void initEnvironment(Napi::Env env);

// A tensor handle is a Napi::External owning a heap at::Tensor, type-tagged as contraseg's. dispose()
// resets it (frees the storage reference now); the finalizer deletes the holder once JS drops the handle.
// Storage bytes are reported to V8 while a handle references them (see common.cc).
Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor);
// Throws a TypeError for a non-external, an EngineError for a foreign external or a disposed handle.
at::Tensor& unwrapTensor(const Napi::Value& value, const char* what = "tensor");
bool isTensorHandle(const Napi::Value& value);
int64_t liveTensorCount(Napi::Env env);
void disposeTensor(const Napi::Value& value);
// Re-counts the storage of a handle whose tensor got a new storage in place (set_data).
void recountTensor(const Napi::Value& value);

// Argument helpers; each throws a JS TypeError naming the argument when it is malformed.
std::vector<int64_t> toIntList(const Napi::Value& value, const char* what);
std::vector<at::Tensor> toTensorList(const Napi::Value& value, const char* what);
at::ScalarType toDtype(const Napi::Value& value);
std::string dtypeName(at::ScalarType type);
double toDouble(const Napi::Value& value, const char* what);
int64_t toInt(const Napi::Value& value, const char* what);
bool toBool(const Napi::Value& value, const char* what);
c10::optional<at::Tensor> toOptionalTensor(const Napi::Value& value);
// A tensor or a JS number (a scalar operand of an elementwise op).
bool isNumber(const Napi::Value& value);

// Creates an error of the JS class registered with setErrorClass (EngineError), or a plain Error.
Napi::Error makeError(Napi::Env env, const std::string& message);

using Impl = Napi::Value (*)(const Napi::CallbackInfo&);
// Runs impl; every exception it throws (a c10::Error, a std::exception, a malformed-argument error) comes
// out as an EngineError whose message starts with the entry point's name and ends with the types and
// shapes of the arguments, e.g. "matmul: <libtorch's reason> (arguments: float32[2, 3], float32[4, 5])".
Napi::Value guard(const Napi::CallbackInfo& info, Impl impl, const char* name);

void registerFunction(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn);

}  // namespace cs

// Defines an exported entry point whose body runs inside cs::guard.
#define CS_ENTRY(name)                                                            \
  static Napi::Value name##_impl(const Napi::CallbackInfo& info);                 \
  static Napi::Value name(const Napi::CallbackInfo& info) {                       \
    return cs::guard(info, name##_impl, #name);                                   \
  }                                                                               \
  static Napi::Value name##_impl(const Napi::CallbackInfo& info)

#define CS_EXPORT(env, exports, name) cs::registerFunction(env, exports, #name, name)
