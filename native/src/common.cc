#include "common.h"
#include <atomic>
#include <cmath>
#include <cstring>

namespace cs {

namespace {
std::atomic<int64_t> liveCount{0};
Napi::FunctionReference* errorClass = nullptr;

struct Holder {
  at::Tensor tensor;
  bool live = true;
};

void finalizeHolder(Napi::Env, Holder* holder) {
  if (holder->live) liveCount--;
  delete holder;
}
}  // namespace

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  auto* holder = new Holder{std::move(tensor), true};
  liveCount++;
  return Napi::External<Holder>::New(env, holder, finalizeHolder);
}

bool isTensorHandle(const Napi::Value& value) { return value.IsExternal(); }

static Holder* holderOf(const Napi::Value& value, const char* what) {
  if (!value.IsExternal()) {
    throw Napi::TypeError::New(value.Env(), std::string("expected a tensor handle for ") + what);
  }
  return value.As<Napi::External<Holder>>().Data();
}

at::Tensor& unwrapTensor(const Napi::Value& value, const char* what) {
  Holder* holder = holderOf(value, what);
  if (!holder->live) {
    throw makeError(value.Env(), std::string("tensor passed as ") + what +
                                     " was already disposed; keep it (keep()/return it from scope()) while it is used");
  }
  return holder->tensor;
}

void disposeTensor(const Napi::Value& value) {
  Holder* holder = holderOf(value, "dispose");
  if (holder->live) {
    holder->tensor.reset();
    holder->live = false;
    liveCount--;
  }
}

int64_t liveTensorCount() { return liveCount.load(); }

static int64_t integral(const Napi::Value& item, const char* what) {
  double number = item.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number)) {
    throw Napi::TypeError::New(item.Env(), std::string(what) + ": expected integers, got " + std::to_string(number));
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
  if (errorClass != nullptr && !errorClass->IsEmpty()) {
    Napi::Object error = errorClass->New({Napi::String::New(env, message)});
    return Napi::Error(env, error);
  }
  return Napi::Error::New(env, message);
}

Napi::Value guard(const Napi::CallbackInfo& info, Impl impl) {
  try {
    return impl(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& error) {
    throw makeError(info.Env(), error.what_without_backtrace());
  } catch (const std::exception& error) {
    throw makeError(info.Env(), error.what());
  } catch (...) {
    throw makeError(info.Env(), "unknown native error");
  }
}

void registerFunction(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

// setErrorClass(ctor): native errors are constructed with `new ctor(message)` from now on.
CS_ENTRY(setErrorClass) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass: expected a constructor");
  if (errorClass == nullptr) errorClass = new Napi::FunctionReference();
  *errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

CS_ENTRY(dispose) {
  disposeTensor(info[0]);
  return info.Env().Undefined();
}

CS_ENTRY(liveCountEntry) { return Napi::Number::New(info.Env(), static_cast<double>(liveTensorCount())); }

CS_ENTRY(isLive) {
  return Napi::Boolean::New(info.Env(), holderOf(info[0], "isLive")->live);
}

void registerCommon(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, setErrorClass);
  CS_EXPORT(env, exports, dispose);
  CS_EXPORT(env, exports, isLive);
  registerFunction(env, exports, "liveTensorCount", liveCountEntry);
}

}  // namespace cs
