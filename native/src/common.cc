#include "common.h"
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace cs {

namespace {
// Every Node environment (the main thread, each worker thread) that loads the addon gets its own state:
// a JS function or reference belongs to one environment and must never be used from another.
//
// Native memory is reported to V8 (napi_adjust_external_memory) per storage, not per handle: a view or a
// second handle on the same storage pins no more memory, so it is counted once, when the first handle
// of this environment reaches it, and uncounted when the last one goes (dispose or finalizer).
struct StorageUse {
  int64_t handles = 0;
  int64_t bytes = 0;  // as counted when the first handle came; subtracted as such
};

struct Accounting {
  int64_t live = 0;  // handles not yet disposed or collected
  int64_t reportedBytes = 0;
  std::unordered_map<const c10::StorageImpl*, StorageUse> storages;
};

struct EnvData {
  Napi::FunctionReference errorClass;
  // Shared with every holder, so that a finalizer run while the environment is torn down (after the
  // instance data may be gone) still finds it.
  std::shared_ptr<Accounting> accounting = std::make_shared<Accounting>();
};

EnvData& envData(Napi::Env env) {
  auto* data = env.GetInstanceData<EnvData>();
  if (data == nullptr) throw std::logic_error("contraseg addon: environment not initialised");
  return *data;
}

// Marks externals made by wrapTensor, so that an external of another addon (or one forged by a test)
// is rejected instead of being reinterpreted as a Holder.
constexpr napi_type_tag kTensorTag = {0x636f6e7472617365ULL, 0x672d74656e736f72ULL};

struct Holder {
  at::Tensor tensor;
  bool live = true;
  std::shared_ptr<Accounting> accounting;
  const c10::StorageImpl* storage = nullptr;  // the storage counted for this handle, if any
};

void countStorage(Napi::Env env, Holder& holder) {
  if (!holder.tensor.defined() || !holder.tensor.has_storage()) return;
  const c10::StorageImpl* storage = holder.tensor.storage().unsafeGetStorageImpl();
  StorageUse& use = holder.accounting->storages[storage];
  if (use.handles++ == 0) {
    use.bytes = static_cast<int64_t>(holder.tensor.storage().nbytes());
    holder.accounting->reportedBytes += use.bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, use.bytes);
  }
  holder.storage = storage;
}

void uncountStorage(Napi::Env env, Holder& holder) {
  if (holder.storage == nullptr) return;
  auto found = holder.accounting->storages.find(holder.storage);
  holder.storage = nullptr;
  if (found == holder.accounting->storages.end() || --found->second.handles > 0) return;
  holder.accounting->reportedBytes -= found->second.bytes;
  Napi::MemoryManagement::AdjustExternalMemory(env, -found->second.bytes);
  holder.accounting->storages.erase(found);
}

void release(Napi::Env env, Holder& holder) {
  if (!holder.live) return;
  uncountStorage(env, holder);
  holder.tensor.reset();
  holder.live = false;
  holder.accounting->live--;
}

void finalizeHolder(Napi::Env env, Holder* holder) {
  release(env, *holder);
  delete holder;
}
}  // namespace

void initEnvironment(Napi::Env env) { env.SetInstanceData(new EnvData()); }

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  auto* holder = new Holder{std::move(tensor), true, envData(env).accounting, nullptr};
  holder->accounting->live++;
  countStorage(env, *holder);
  auto external = Napi::External<Holder>::New(env, holder, finalizeHolder);
  external.TypeTag(&kTensorTag);
  return external;
}

bool isTensorHandle(const Napi::Value& value) {
  return value.IsExternal() && value.As<Napi::External<Holder>>().CheckTypeTag(&kTensorTag);
}

static Holder* holderOf(const Napi::Value& value, const char* what) {
  if (!value.IsExternal()) {
    throw Napi::TypeError::New(value.Env(), std::string("expected a tensor handle for ") + what);
  }
  auto external = value.As<Napi::External<Holder>>();
  if (!external.CheckTypeTag(&kTensorTag)) {
    throw makeError(value.Env(), std::string("the value passed as ") + what +
                                     " is an external of another addon, not a contraseg tensor handle; pass a "
                                     "Tensor's handle created by contraseg in this thread");
  }
  return external.Data();
}

at::Tensor& unwrapTensor(const Napi::Value& value, const char* what) {
  Holder* holder = holderOf(value, what);
  if (!holder->live) {
    throw makeError(value.Env(), std::string("tensor passed as ") + what +
                                     " was already disposed; keep it (keep()/return it from scope()) while it is used");
  }
  return holder->tensor;
}

void disposeTensor(const Napi::Value& value) { release(value.Env(), *holderOf(value, "dispose")); }

void recountTensor(const Napi::Value& value) {
  Holder* holder = holderOf(value, "recount");
  if (!holder->live) return;
  uncountStorage(value.Env(), *holder);
  countStorage(value.Env(), *holder);
}

int64_t liveTensorCount(Napi::Env env) { return envData(env).accounting->live; }
int64_t reportedExternalBytes(Napi::Env env) { return envData(env).accounting->reportedBytes; }

static int64_t integral(const Napi::Value& item, const char* what) {
  double number = item.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number)) {
    throw Napi::TypeError::New(item.Env(), std::string(what) + ": expected integers, got " + std::to_string(number));
  }
  // Beyond +-2^63 the conversion to int64 is undefined behaviour, not a large number.
  if (number >= 9223372036854775808.0 || number < -9223372036854775808.0) {
    throw Napi::TypeError::New(item.Env(), std::string(what) + ": expected integers within +-2^63, got " + std::to_string(number));
  }
  return static_cast<int64_t>(number);
}

std::vector<int64_t> toIntList(const Napi::Value& value, const char* what) {
  if (value.IsNumber()) return {integral(value, what)};
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an array of integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array[i];
    if (!item.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected integers");
    out[i] = integral(item, what);
  }
  return out;
}

std::vector<at::Tensor> toTensorList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an array of tensors");
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(unwrapTensor(array[i], what));
  return out;
}

at::ScalarType toDtype(const Napi::Value& value) {
  std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "int64") return at::kLong;
  if (name == "int32") return at::kInt;
  if (name == "uint8") return at::kByte;
  if (name == "bool") return at::kBool;
  throw Napi::TypeError::New(value.Env(), "unknown dtype '" + name + "'; expected float32, float64, int64, int32, uint8 or bool");
}

std::string dtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return std::string("unsupported:") + c10::toString(type);
  }
}

double toDouble(const Napi::Value& value, const char* what) {
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected a number");
  return value.As<Napi::Number>().DoubleValue();
}

int64_t toInt(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an integer");
  return integral(value, what);
}

bool toBool(const Napi::Value& value, const char* what) {
  if (!value.IsBoolean()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected a boolean");
  return value.As<Napi::Boolean>().Value();
}

c10::optional<at::Tensor> toOptionalTensor(const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return c10::nullopt;
  return unwrapTensor(value, "optional tensor");
}

bool isNumber(const Napi::Value& value) { return value.IsNumber() || value.IsBoolean(); }

Napi::Error makeError(Napi::Env env, const std::string& message) {
  auto* data = env.GetInstanceData<EnvData>();
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    Napi::Object error = data->errorClass.New({Napi::String::New(env, message)});
    return Napi::Error(env, error);
  }
  return Napi::Error::New(env, message);
}

namespace {
// One argument as the error message shows it: a tensor as dtype[shape], other values by type or value.
std::string describeValue(const Napi::Value& value, int depth) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value() ? "true" : "false";
  if (value.IsNumber()) {
    const double number = value.As<Napi::Number>().DoubleValue();
    if (number == std::floor(number) && std::fabs(number) < 1e15) return std::to_string(static_cast<int64_t>(number));
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", number);  // 0.5, 1e+300, nan, inf
    return text;
  }
  if (value.IsString()) {
    std::string text = value.As<Napi::String>().Utf8Value();
    return "'" + (text.size() > 40 ? text.substr(0, 40) + "..." : text) + "'";
  }
  if (value.IsExternal()) {
    if (!value.As<Napi::External<Holder>>().CheckTypeTag(&kTensorTag)) return "foreign external";
    const Holder* holder = value.As<Napi::External<Holder>>().Data();
    if (!holder->live) return "disposed tensor";
    std::string text = dtypeName(holder->tensor.scalar_type()) + "[";
    for (int64_t i = 0; i < holder->tensor.dim(); i++) text += (i > 0 ? ", " : "") + std::to_string(holder->tensor.size(i));
    return text + "]";
  }
  if (value.IsArray()) {
    if (depth > 0) return "array";
    auto array = value.As<Napi::Array>();
    std::string text = "[";
    const uint32_t shown = std::min<uint32_t>(array.Length(), 8);
    for (uint32_t i = 0; i < shown; i++) text += (i > 0 ? ", " : "") + describeValue(array.Get(i), depth + 1);
    return text + (array.Length() > shown ? ", ...]" : "]");
  }
  if (value.IsTypedArray()) return "typed array of " + std::to_string(value.As<Napi::TypedArray>().ElementLength());
  if (value.IsFunction()) return "function";
  return "object";
}

// "name: reason (arguments: ...)". Never throws: a failure to describe leaves the arguments out.
std::string describeFailure(const Napi::CallbackInfo& info, const char* name, const std::string& reason) {
  // "item(): ..." or "item: ..." already names the entry point.
  const std::string entry(name);
  const bool named = reason.rfind(entry, 0) == 0 && reason.size() > entry.size() &&
                     (reason[entry.size()] == ':' || reason[entry.size()] == '(');
  std::string message = named ? reason : entry + ": " + reason;
  try {
    std::string arguments;
    for (size_t i = 0; i < info.Length(); i++) arguments += (i > 0 ? ", " : "") + describeValue(info[i], 0);
    return message + " (arguments: " + arguments + ")";
  } catch (...) {
    return message;
  }
}

std::string messageOf(const Napi::Error& error) {
  try {
    return error.Message();
  } catch (...) {
    return "unknown error";
  }
}
}  // namespace

Napi::Value guard(const Napi::CallbackInfo& info, Impl impl, const char* name) {
  std::string reason;
  try {
    return impl(info);
  } catch (const Napi::Error& error) {
    // A malformed argument (TypeError from the helpers) or an EngineError raised by the entry point itself.
    reason = messageOf(error);
  } catch (const c10::Error& error) {
    reason = error.what_without_backtrace();
  } catch (const std::exception& error) {
    reason = error.what();
  } catch (...) {
    reason = "unknown native error";
  }
  throw makeError(info.Env(), describeFailure(info, name, reason));
}

void registerFunction(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

// setErrorClass(ctor): native errors of this environment are constructed with `new ctor(message)` from now on.
CS_ENTRY(setErrorClass) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass: expected a constructor");
  envData(info.Env()).errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

CS_ENTRY(dispose) {
  disposeTensor(info[0]);
  return info.Env().Undefined();
}

CS_ENTRY(liveCountEntry) { return Napi::Number::New(info.Env(), static_cast<double>(liveTensorCount(info.Env()))); }

// externalMemory() -> { tensors, isolate }: the bytes of tensor storage this environment reports to V8
// right now, and V8's own total of external memory for this isolate (what its GC heuristics see; Node 20's
// process.memoryUsage().external counts ArrayBuffers only).
CS_ENTRY(externalMemory) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("tensors", Napi::Number::New(env, static_cast<double>(reportedExternalBytes(env))));
  result.Set("isolate", Napi::Number::New(env, static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(env, 0))));
  return result;
}

// foreignExternalForTesting(): an untagged external, as another addon would make; every entry point
// must reject it with an EngineError.
CS_ENTRY(foreignExternalForTesting) {
  static int marker = 0;
  return Napi::External<int>::New(info.Env(), &marker);
}

CS_ENTRY(isLive) {
  return Napi::Boolean::New(info.Env(), holderOf(info[0], "isLive")->live);
}

void registerCommon(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, setErrorClass);
  CS_EXPORT(env, exports, dispose);
  CS_EXPORT(env, exports, isLive);
  registerFunction(env, exports, "liveTensorCount", liveCountEntry);
  CS_EXPORT(env, exports, externalMemory);
  CS_EXPORT(env, exports, foreignExternalForTesting);
}

}  // namespace cs
