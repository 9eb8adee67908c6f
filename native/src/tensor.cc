// Creation, inspection, conversion, autograd and RNG entry points.
#include "common.h"
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <malloc.h>

namespace cs {

static at::TensorOptions optionsFor(const Napi::Value& dtype, at::ScalarType fallback = at::kFloat) {
  return at::TensorOptions().dtype(dtype.IsUndefined() ? fallback : toDtype(dtype));
}

static size_t elementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: case napi_int32_array: return 4;
    case napi_float64_array: case napi_bigint64_array: return 8;
    case napi_uint8_array: return 1;
    default: return 0;
  }
}

static at::ScalarType scalarTypeOf(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_uint8_array: return at::kByte;
    default: return at::kFloat;
  }
}

// fromTypedArray(data, shape, dtype?, requiresGrad): copies data; converts to dtype when it differs.
CS_ENTRY(fromTypedArray) {
  Napi::Env env = info.Env();
  const char* supported = "tensor(): use Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or number[]";
  if (!info[0].IsTypedArray()) throw makeError(env, supported);
  auto array = info[0].As<Napi::TypedArray>();
  size_t size = elementSize(array.TypedArrayType());
  if (size == 0) throw makeError(env, supported);
  std::vector<int64_t> shape = toIntList(info[1], "shape");
  int64_t numel = 1;
  for (int64_t dim : shape) {
    if (dim < 0) throw makeError(env, "tensor(): negative dimension in shape");
    // A product past 2^63 is signed overflow (it could even wrap to the data's length): stop first.
    if (dim != 0 && numel > std::numeric_limits<int64_t>::max() / dim) {
      throw makeError(env, "tensor(): shape holds more than 2^63 elements but data has " + std::to_string(array.ElementLength()));
    }
    numel *= dim;
  }
  if (numel != static_cast<int64_t>(array.ElementLength())) {
    throw makeError(env, "tensor(): shape holds " + std::to_string(numel) + " elements but data has " +
                             std::to_string(array.ElementLength()));
  }
  at::ScalarType source = scalarTypeOf(array.TypedArrayType());
  at::Tensor result = at::empty(shape, at::TensorOptions().dtype(source));
  // An empty array may have no buffer (Data() null) and an empty tensor no storage: memcpy of null
  // pointers is undefined even for 0 bytes (UBSan, native/README.md).
  if (numel > 0) {
    auto* bytes = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    std::memcpy(result.data_ptr(), bytes, numel * size);
  }
  if (!info[2].IsUndefined()) {
    at::ScalarType target = toDtype(info[2]);
    if (target != source) result = result.to(target);
  }
  if (info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value()) result.set_requires_grad(true);
  return wrapTensor(env, result);
}

CS_ENTRY(zeros) { return wrapTensor(info.Env(), at::zeros(toIntList(info[0], "shape"), optionsFor(info[1]))); }
CS_ENTRY(ones) { return wrapTensor(info.Env(), at::ones(toIntList(info[0], "shape"), optionsFor(info[1]))); }
CS_ENTRY(full) {
  return wrapTensor(info.Env(), at::full(toIntList(info[0], "shape"), toDouble(info[1], "value"), optionsFor(info[2])));
}
CS_ENTRY(arange) {
  return wrapTensor(info.Env(), at::arange(toDouble(info[0], "start"), toDouble(info[1], "end"),
                                           toDouble(info[2], "step"), optionsFor(info[3], at::kLong)));
}
CS_ENTRY(randn) { return wrapTensor(info.Env(), at::randn(toIntList(info[0], "shape"), optionsFor(info[1]))); }
CS_ENTRY(rand) { return wrapTensor(info.Env(), at::rand(toIntList(info[0], "shape"), optionsFor(info[1]))); }
CS_ENTRY(randint) {
  return wrapTensor(info.Env(), at::randint(toInt(info[0], "low"), toInt(info[1], "high"),
                                            toIntList(info[2], "shape"), optionsFor(info[3], at::kLong)));
}
CS_ENTRY(randperm) { return wrapTensor(info.Env(), at::randperm(toInt(info[0], "n"), at::kLong)); }

CS_ENTRY(manualSeed) {
  at::manual_seed(static_cast<uint64_t>(toInt(info[0], "seed")));
  return info.Env().Undefined();
}

// The CPU generator's state as bytes, for checkpoints that resume bit-exactly.
CS_ENTRY(getRngState) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  at::Tensor state = generator.get_state();
  auto buffer = Napi::Uint8Array::New(info.Env(), state.numel());
  std::memcpy(buffer.Data(), state.data_ptr(), state.numel());
  return buffer;
}

CS_ENTRY(setRngState) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "setRngState: expected a Uint8Array");
  auto bytes = info[0].As<Napi::Uint8Array>();
  at::Tensor state = at::empty({static_cast<int64_t>(bytes.ElementLength())}, at::kByte);
  if (bytes.ElementLength() > 0) std::memcpy(state.data_ptr(), bytes.Data(), bytes.ElementLength());
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
  return info.Env().Undefined();
}

CS_ENTRY(shape) {
  at::Tensor& tensor = unwrapTensor(info[0]);
  auto array = Napi::Array::New(info.Env(), tensor.dim());
  for (int64_t i = 0; i < tensor.dim(); i++) array.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), tensor.size(i)));
  return array;
}
CS_ENTRY(dtype) { return Napi::String::New(info.Env(), dtypeName(unwrapTensor(info[0]).scalar_type())); }

// The values of a tensor argument as one contiguous row-major block (bool as bytes), for copying out to JS.
static at::Tensor contiguousValues(const Napi::Value& value) {
  at::Tensor tensor = unwrapTensor(value).detach().contiguous();
  return tensor.scalar_type() == at::kBool ? tensor.to(at::kByte) : tensor;
}

// toTypedArray(t): a copy of the values in row-major order. bool comes back as Uint8Array.
CS_ENTRY(toTypedArray) {
  Napi::Env env = info.Env();
  at::Tensor tensor = contiguousValues(info[0]);
  size_t bytes = tensor.numel() * tensor.element_size();
  auto buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), tensor.data_ptr(), bytes);
  size_t length = tensor.numel();
  switch (tensor.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(env, length, buffer, 0);
    case at::kDouble: return Napi::Float64Array::New(env, length, buffer, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, length, buffer, 0);
    case at::kInt: return Napi::Int32Array::New(env, length, buffer, 0);
    case at::kByte: return Napi::Uint8Array::New(env, length, buffer, 0);
    default: throw makeError(env, "toTypedArray: unsupported dtype " + dtypeName(tensor.scalar_type()));
  }
}

// copyBytesInto(t, target: Uint8Array, byteOffset): the tensor's values (row-major, bool as bytes) written into
// target at byteOffset, no allocation on the JS side; returns the byte count. A checkpoint snapshot reuses one
// buffer across saves this way instead of allocating one ArrayBuffer per tensor per save.
CS_ENTRY(copyBytesInto) {
  Napi::Env env = info.Env();
  at::Tensor tensor = contiguousValues(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "copyBytesInto: expected a Uint8Array as the target");
  }
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "copyBytesInto: expected a byte offset (number)");
  auto target = info[1].As<Napi::Uint8Array>();
  double offset = info[2].As<Napi::Number>().DoubleValue();
  size_t bytes = tensor.numel() * tensor.element_size();
  // Range and integrality checked in double before any cast (a cast of 1e30 or NaN to size_t is undefined).
  if (!(offset >= 0) || offset > static_cast<double>(target.ByteLength()) || offset != std::floor(offset) ||
      bytes > target.ByteLength() - static_cast<size_t>(offset)) {
    std::ostringstream where;
    where << offset;  // shortest form: 16, -1, 0.5, nan
    throw makeError(env, "copyBytesInto: " + std::to_string(bytes) + " bytes do not fit at offset " + where.str() +
      " of a " + std::to_string(target.ByteLength()) + "-byte target");
  }
  if (bytes > 0) std::memcpy(target.Data() + static_cast<size_t>(offset), tensor.data_ptr(), bytes);
  return Napi::Number::New(env, static_cast<double>(bytes));
}

CS_ENTRY(item) {
  at::Tensor& tensor = unwrapTensor(info[0]);
  if (tensor.numel() != 1) throw makeError(info.Env(), "item(): tensor has " + std::to_string(tensor.numel()) + " elements, expected 1");
  return Napi::Number::New(info.Env(), tensor.item<double>());
}

CS_ENTRY(to) { return wrapTensor(info.Env(), unwrapTensor(info[0]).to(toDtype(info[1]))); }
CS_ENTRY(clone) { return wrapTensor(info.Env(), unwrapTensor(info[0]).clone()); }
CS_ENTRY(detach) { return wrapTensor(info.Env(), unwrapTensor(info[0]).detach()); }
CS_ENTRY(contiguous) { return wrapTensor(info.Env(), unwrapTensor(info[0]).contiguous()); }
CS_ENTRY(channelsLast) {
  bool on = toBool(info[1], "channelsLast");
  return wrapTensor(info.Env(), unwrapTensor(info[0]).contiguous(on ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
}

// setMemoryFormat(t, channelsLast): re-lays a leaf's storage in place (parameters keep their identity).
CS_ENTRY(setMemoryFormat) {
  at::Tensor& tensor = unwrapTensor(info[0]);
  bool on = toBool(info[1], "channelsLast");
  if (tensor.dim() != 4) return info.Env().Undefined();
  at::NoGradGuard noGrad;
  tensor.set_data(tensor.contiguous(on ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
  recountTensor(info[0]);  // the handle now pins the new storage, not the old one
  return info.Env().Undefined();
}

// copyInto(dst, src): dst <- src in place without recording autograd history (loading weights).
CS_ENTRY(copyInto) {
  at::NoGradGuard noGrad;
  unwrapTensor(info[0], "destination").copy_(unwrapTensor(info[1], "source"));
  return info.Env().Undefined();
}

// addInPlace(dst, other): dst += other (tensor or number) without autograd history (counters, statistics).
CS_ENTRY(addInPlace) {
  at::NoGradGuard noGrad;
  at::Tensor& target = unwrapTensor(info[0], "destination");
  if (isNumber(info[1])) {
    double value = toDouble(info[1], "other");
    // An integral tensor (a counter) takes an integral scalar: a double one cannot be cast to Long in place.
    if (at::isIntegralType(target.scalar_type(), true)) {
      // Truncated as before, but a NaN, an infinity or a value past +-2^63 has no int64 (undefined behaviour).
      if (!(std::fabs(value) < 9223372036854775808.0)) {
        throw makeError(info.Env(), "addInPlace: an integral tensor takes a finite number within +-2^63, got " + std::to_string(value));
      }
      target.add_(at::Scalar(static_cast<int64_t>(value)));
    }
    else target.add_(at::Scalar(value));
  }
  else target.add_(unwrapTensor(info[1], "other"));
  return info.Env().Undefined();
}

CS_ENTRY(requiresGrad) { return Napi::Boolean::New(info.Env(), unwrapTensor(info[0]).requires_grad()); }
CS_ENTRY(setRequiresGrad) {
  unwrapTensor(info[0]).set_requires_grad(toBool(info[1], "requiresGrad"));
  return info.Env().Undefined();
}
CS_ENTRY(grad) {
  const at::Tensor& grad = unwrapTensor(info[0]).grad();
  if (!grad.defined()) return info.Env().Null();
  return wrapTensor(info.Env(), grad);
}
// isGradOf(t, g): whether handle g holds the very gradient tensor t.grad holds now (not a stale one that
// backward() replaced out of place or zeroGrad() dropped). Lets Tensor.grad reuse one handle.
CS_ENTRY(isGradOf) {
  const at::Tensor& grad = unwrapTensor(info[0]).grad();
  return Napi::Boolean::New(info.Env(), grad.defined() && grad.unsafeGetTensorImpl() ==
                                                              unwrapTensor(info[1], "gradient").unsafeGetTensorImpl());
}
CS_ENTRY(zeroGrad) {
  at::Tensor& tensor = unwrapTensor(info[0]);
  if (tensor.grad().defined()) tensor.mutable_grad().reset();
  return info.Env().Undefined();
}
CS_ENTRY(backward) {
  at::Tensor& tensor = unwrapTensor(info[0]);
  if (!tensor.requires_grad()) throw makeError(info.Env(), "backward(): the tensor does not require grad (no input had requiresGrad, or it was computed under noGrad)");
  c10::optional<at::Tensor> gradient = toOptionalTensor(info[1]);
  if (!gradient && tensor.numel() != 1) throw makeError(info.Env(), "backward(): pass a gradient for a non-scalar tensor");
  tensor.backward(gradient ? *gradient : at::Tensor());
  return info.Env().Undefined();
}
CS_ENTRY(setGradEnabled) {
  bool previous = at::GradMode::is_enabled();
  at::GradMode::set_enabled(toBool(info[0], "enabled"));
  return Napi::Boolean::New(info.Env(), previous);
}
CS_ENTRY(isGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

CS_ENTRY(setNumThreads) {
  int64_t threads = toInt(info[0], "threads");
  // OpenMP would try to start every one of an absurd count at the first parallel op and abort the process.
  if (threads < 1 || threads > 1024) {
    throw makeError(info.Env(), "setNumThreads: expected between 1 and 1024 threads, got " + std::to_string(threads));
  }
  at::set_num_threads(static_cast<int>(threads));
  return info.Env().Undefined();
}
CS_ENTRY(getNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
// tuneAllocator(mmapThreshold, trimThreshold) -> { mmapThreshold, trimThreshold }: glibc malloc settings (see
// native.ts for why). Each field is the value now in force, or null where it was not set. The trim threshold
// is set only once mallopt has accepted the mmap threshold: fixing M_TRIM_THRESHOLD also turns off glibc's
// dynamic mmap threshold, so alone it would pin that at 128 KiB and map every activation buffer afresh
// (bench/malloc-tuning.ts: 8x the page faults of glibc's defaults). glibc releases that check the mmap
// threshold cap it at HEAP_MAX_SIZE / 2 = 32 MiB on 64-bit (2.36 accepts more).
CS_ENTRY(tuneAllocator) {
  Napi::Env env = info.Env();
  const int64_t mmapThreshold = toInt(info[0], "mmapThreshold");
  const int64_t trimThreshold = toInt(info[1], "trimThreshold");
  const int64_t intMax = std::numeric_limits<int>::max();
  if (mmapThreshold < 0 || mmapThreshold > intMax || trimThreshold < 0 || trimThreshold > intMax) {
    throw makeError(env, "tuneAllocator: thresholds must be between 0 and " + std::to_string(intMax) + " bytes");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("mmapThreshold", env.Null());
  result.Set("trimThreshold", env.Null());
#if defined(__GLIBC__)
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmapThreshold)) != 1) return result;
  result.Set("mmapThreshold", Napi::Number::New(env, static_cast<double>(mmapThreshold)));
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(trimThreshold)) == 1) {
    result.Set("trimThreshold", Napi::Number::New(env, static_cast<double>(trimThreshold)));
  }
#endif
  return result;
}

// mallinfo2 (glibc >= 2.33), which mallocMapsForTesting and mallocStats read.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define CS_HAS_MALLINFO2 1
#else
#define CS_HAS_MALLINFO2 0
#endif

// mallocMapsForTesting(bytes): whether glibc serves a malloc of `bytes` with its own mmap (true) or from
// the heap (false): it allocates, compares mallinfo2's mmapped bytes, and frees. null without glibc.
CS_ENTRY(mallocMapsForTesting) {
  const int64_t bytes = toInt(info[0], "bytes");
  if (bytes <= 0) throw makeError(info.Env(), "mallocMapsForTesting: expected a positive size");
#if CS_HAS_MALLINFO2
  const size_t before = mallinfo2().hblkhd;
  void* block = std::malloc(static_cast<size_t>(bytes));
  if (block == nullptr) throw makeError(info.Env(), "mallocMapsForTesting: out of memory");
  const size_t after = mallinfo2().hblkhd;
  std::free(block);
  return Napi::Boolean::New(info.Env(), after >= before + static_cast<size_t>(bytes));
#else
  return info.Env().Null();
#endif
}

// mallocStats() -> { inUse, mapped, heap, free } in bytes, from glibc's mallinfo2 summed over every arena:
// bytes in live malloc blocks (heap and mmapped), bytes in mmapped blocks, bytes the heaps hold from the
// kernel, and free bytes inside them. A leak grows inUse; an allocator that keeps freed memory grows heap
// and free but not inUse. null without glibc >= 2.33.
CS_ENTRY(mallocStats) {
  Napi::Env env = info.Env();
#if CS_HAS_MALLINFO2
  const struct mallinfo2 stats = mallinfo2();
  Napi::Object result = Napi::Object::New(env);
  result.Set("inUse", Napi::Number::New(env, static_cast<double>(stats.uordblks + stats.hblkhd)));
  result.Set("mapped", Napi::Number::New(env, static_cast<double>(stats.hblkhd)));
  result.Set("heap", Napi::Number::New(env, static_cast<double>(stats.arena)));
  result.Set("free", Napi::Number::New(env, static_cast<double>(stats.fordblks)));
  return result;
#else
  return env.Null();
#endif
}

CS_ENTRY(hasMkldnn) { return Napi::Boolean::New(info.Env(), at::hasMKLDNN()); }

void registerTensor(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, fromTypedArray);
  CS_EXPORT(env, exports, zeros);
  CS_EXPORT(env, exports, ones);
  CS_EXPORT(env, exports, full);
  CS_EXPORT(env, exports, arange);
  CS_EXPORT(env, exports, randn);
  CS_EXPORT(env, exports, rand);
  CS_EXPORT(env, exports, randint);
  CS_EXPORT(env, exports, randperm);
  CS_EXPORT(env, exports, manualSeed);
  CS_EXPORT(env, exports, getRngState);
  CS_EXPORT(env, exports, setRngState);
  CS_EXPORT(env, exports, shape);
  CS_EXPORT(env, exports, dtype);
  CS_EXPORT(env, exports, toTypedArray);
  CS_EXPORT(env, exports, copyBytesInto);
  CS_EXPORT(env, exports, item);
  CS_EXPORT(env, exports, to);
  CS_EXPORT(env, exports, clone);
  CS_EXPORT(env, exports, detach);
  CS_EXPORT(env, exports, contiguous);
  CS_EXPORT(env, exports, channelsLast);
  CS_EXPORT(env, exports, copyInto);
  CS_EXPORT(env, exports, setMemoryFormat);
  CS_EXPORT(env, exports, addInPlace);
  CS_EXPORT(env, exports, requiresGrad);
  CS_EXPORT(env, exports, setRequiresGrad);
  CS_EXPORT(env, exports, grad);
  CS_EXPORT(env, exports, isGradOf);
  CS_EXPORT(env, exports, zeroGrad);
  CS_EXPORT(env, exports, backward);
  CS_EXPORT(env, exports, setGradEnabled);
  CS_EXPORT(env, exports, isGradEnabled);
  CS_EXPORT(env, exports, setNumThreads);
  CS_EXPORT(env, exports, getNumThreads);
  CS_EXPORT(env, exports, hasMkldnn);
  CS_EXPORT(env, exports, tuneAllocator);
  CS_EXPORT(env, exports, mallocMapsForTesting);
  CS_EXPORT(env, exports, mallocStats);
}

}  // namespace cs
