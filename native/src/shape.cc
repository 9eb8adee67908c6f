// Reductions and shape manipulation.
#include "common.h"

namespace cs {

// Reductions take (t, dims|undefined, keepdim). undefined dims reduce over every element.
static bool allDims(const Napi::Value& value) { return value.IsUndefined() || value.IsNull(); }

CS_ENTRY(sum) {
  const at::Tensor& t = unwrapTensor(info[0]);
  if (allDims(info[1])) return wrapTensor(info.Env(), at::sum(t));
  return wrapTensor(info.Env(), at::sum(t, toIntList(info[1], "dims"), toBool(info[2], "keepdim")));
}
CS_ENTRY(mean) {
  const at::Tensor& t = unwrapTensor(info[0]);
  if (allDims(info[1])) return wrapTensor(info.Env(), at::mean(t));
  return wrapTensor(info.Env(), at::mean(t, toIntList(info[1], "dims"), toBool(info[2], "keepdim")));
}
CS_ENTRY(amax) {
  const at::Tensor& t = unwrapTensor(info[0]);
  if (allDims(info[1])) return wrapTensor(info.Env(), at::amax(t, at::IntArrayRef{}, false));
  return wrapTensor(info.Env(), at::amax(t, toIntList(info[1], "dims"), toBool(info[2], "keepdim")));
}
CS_ENTRY(amin) {
  const at::Tensor& t = unwrapTensor(info[0]);
  if (allDims(info[1])) return wrapTensor(info.Env(), at::amin(t, at::IntArrayRef{}, false));
  return wrapTensor(info.Env(), at::amin(t, toIntList(info[1], "dims"), toBool(info[2], "keepdim")));
}
CS_ENTRY(logsumexp) {
  return wrapTensor(info.Env(), at::logsumexp(unwrapTensor(info[0]), toIntList(info[1], "dims"), toBool(info[2], "keepdim")));
}
// maxDim(t, dim, keepdim) -> [values, indices]
CS_ENTRY(maxDim) {
  auto result = at::max(unwrapTensor(info[0]), toInt(info[1], "dim"), toBool(info[2], "keepdim"));
  auto array = Napi::Array::New(info.Env(), 2);
  array.Set(0u, wrapTensor(info.Env(), std::get<0>(result)));
  array.Set(1u, wrapTensor(info.Env(), std::get<1>(result)));
  return array;
}
CS_ENTRY(minDim) {
  auto result = at::min(unwrapTensor(info[0]), toInt(info[1], "dim"), toBool(info[2], "keepdim"));
  auto array = Napi::Array::New(info.Env(), 2);
  array.Set(0u, wrapTensor(info.Env(), std::get<0>(result)));
  array.Set(1u, wrapTensor(info.Env(), std::get<1>(result)));
  return array;
}
// argmax(t, dim|undefined, keepdim)
CS_ENTRY(argmax) {
  const at::Tensor& t = unwrapTensor(info[0]);
  if (allDims(info[1])) return wrapTensor(info.Env(), at::argmax(t));
  return wrapTensor(info.Env(), at::argmax(t, toInt(info[1], "dim"), toBool(info[2], "keepdim")));
}

CS_ENTRY(reshape) { return wrapTensor(info.Env(), at::reshape(unwrapTensor(info[0]), toIntList(info[1], "shape"))); }
CS_ENTRY(permute) { return wrapTensor(info.Env(), unwrapTensor(info[0]).permute(toIntList(info[1], "dims"))); }
CS_ENTRY(transpose) {
  return wrapTensor(info.Env(), unwrapTensor(info[0]).transpose(toInt(info[1], "dim0"), toInt(info[2], "dim1")));
}
// slice(t, dim, start, end, step); end may be undefined (to the end)
CS_ENTRY(slice) {
  c10::optional<int64_t> end;
  if (!info[3].IsUndefined() && !info[3].IsNull()) end = toInt(info[3], "end");
  return wrapTensor(info.Env(), unwrapTensor(info[0]).slice(toInt(info[1], "dim"), toInt(info[2], "start"), end,
                                                            info[4].IsUndefined() ? 1 : toInt(info[4], "step")));
}
CS_ENTRY(cat) { return wrapTensor(info.Env(), at::cat(toTensorList(info[0], "cat"), toInt(info[1], "dim"))); }
CS_ENTRY(stack) { return wrapTensor(info.Env(), at::stack(toTensorList(info[0], "stack"), toInt(info[1], "dim"))); }
CS_ENTRY(gather) {
  return wrapTensor(info.Env(), at::gather(unwrapTensor(info[0]), toInt(info[1], "dim"), unwrapTensor(info[2], "index")));
}
CS_ENTRY(indexSelect) {
  return wrapTensor(info.Env(), at::index_select(unwrapTensor(info[0]), toInt(info[1], "dim"), unwrapTensor(info[2], "index")));
}
CS_ENTRY(squeeze) {
  const at::Tensor& t = unwrapTensor(info[0]);
  if (allDims(info[1])) return wrapTensor(info.Env(), t.squeeze());
  return wrapTensor(info.Env(), t.squeeze(toInt(info[1], "dim")));
}
CS_ENTRY(unsqueeze) { return wrapTensor(info.Env(), unwrapTensor(info[0]).unsqueeze(toInt(info[1], "dim"))); }
CS_ENTRY(expand) { return wrapTensor(info.Env(), unwrapTensor(info[0]).expand(toIntList(info[1], "shape"))); }
CS_ENTRY(flatten) {
  return wrapTensor(info.Env(), unwrapTensor(info[0]).flatten(toInt(info[1], "startDim"), toInt(info[2], "endDim")));
}
CS_ENTRY(repeat) { return wrapTensor(info.Env(), unwrapTensor(info[0]).repeat(toIntList(info[1], "repeats"))); }
CS_ENTRY(flip) { return wrapTensor(info.Env(), at::flip(unwrapTensor(info[0]), toIntList(info[1], "dims"))); }
CS_ENTRY(maskedFill) {
  return wrapTensor(info.Env(), at::masked_fill(unwrapTensor(info[0]), unwrapTensor(info[1], "mask"), toDouble(info[2], "value")));
}
CS_ENTRY(maskedSelect) {
  return wrapTensor(info.Env(), at::masked_select(unwrapTensor(info[0]), unwrapTensor(info[1], "mask")));
}
CS_ENTRY(nonzero) { return wrapTensor(info.Env(), at::nonzero(unwrapTensor(info[0]))); }
CS_ENTRY(oneHot) { return wrapTensor(info.Env(), at::one_hot(unwrapTensor(info[0]), toInt(info[1], "numClasses"))); }

void registerShape(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, sum); CS_EXPORT(env, exports, mean); CS_EXPORT(env, exports, amax);
  CS_EXPORT(env, exports, amin); CS_EXPORT(env, exports, logsumexp); CS_EXPORT(env, exports, maxDim);
  CS_EXPORT(env, exports, minDim); CS_EXPORT(env, exports, argmax);
  CS_EXPORT(env, exports, reshape); CS_EXPORT(env, exports, permute); CS_EXPORT(env, exports, transpose);
  CS_EXPORT(env, exports, slice); CS_EXPORT(env, exports, cat); CS_EXPORT(env, exports, stack);
  CS_EXPORT(env, exports, gather); CS_EXPORT(env, exports, indexSelect); CS_EXPORT(env, exports, squeeze);
  CS_EXPORT(env, exports, unsqueeze); CS_EXPORT(env, exports, expand); CS_EXPORT(env, exports, flatten);
  CS_EXPORT(env, exports, repeat); CS_EXPORT(env, exports, flip); CS_EXPORT(env, exports, maskedFill);
  CS_EXPORT(env, exports, maskedSelect); CS_EXPORT(env, exports, nonzero); CS_EXPORT(env, exports, oneHot);
}

}  // namespace cs
