// Neural-network functionals: convolution, normalisation, resampling, pooling, losses.
#include "common.h"
#include <ATen/core/Reduction.h>

namespace cs {

// conv2d(x, weight, bias|null, stride[2], padding[2], dilation[2], groups)
CS_ENTRY(conv2d) {
  return wrapTensor(info.Env(), at::conv2d(unwrapTensor(info[0], "input"), unwrapTensor(info[1], "weight"),
                                           toOptionalTensor(info[2]), toIntList(info[3], "stride"),
                                           toIntList(info[4], "padding"), toIntList(info[5], "dilation"),
                                           toInt(info[6], "groups")));
}

// batchNorm(x, weight|null, bias|null, runningMean|null, runningVar|null, training, momentum, eps).
// In training mode the running statistics are updated in place, as in PyTorch.
CS_ENTRY(batchNorm) {
  return wrapTensor(info.Env(), at::batch_norm(unwrapTensor(info[0], "input"), toOptionalTensor(info[1]),
                                               toOptionalTensor(info[2]), toOptionalTensor(info[3]),
                                               toOptionalTensor(info[4]), toBool(info[5], "training"),
                                               toDouble(info[6], "momentum"), toDouble(info[7], "eps"), true));
}

CS_ENTRY(dropout) {
  return wrapTensor(info.Env(), at::dropout(unwrapTensor(info[0]), toDouble(info[1], "p"), toBool(info[2], "training")));
}

// interpolate(x, size[2], mode 'bilinear'|'nearest', alignCorners)
CS_ENTRY(interpolate) {
  const at::Tensor& input = unwrapTensor(info[0], "input");
  std::vector<int64_t> size = toIntList(info[1], "size");
  std::string mode = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  if (mode == "bilinear") {
    return wrapTensor(info.Env(), at::upsample_bilinear2d(input, size, toBool(info[3], "alignCorners"), c10::nullopt, c10::nullopt));
  }
  if (mode == "nearest") return wrapTensor(info.Env(), at::upsample_nearest2d(input, size, c10::nullopt, c10::nullopt));
  throw makeError(info.Env(), "interpolate: unknown mode '" + mode + "'; expected bilinear or nearest");
}

CS_ENTRY(adaptiveAvgPool2d) {
  return wrapTensor(info.Env(), at::adaptive_avg_pool2d(unwrapTensor(info[0]), toIntList(info[1], "outputSize")));
}

// maxPool2d(x, kernel[2], stride[2], padding[2], dilation[2], ceilMode)
CS_ENTRY(maxPool2d) {
  return wrapTensor(info.Env(), at::max_pool2d(unwrapTensor(info[0]), toIntList(info[1], "kernel"), toIntList(info[2], "stride"),
                                               toIntList(info[3], "padding"), toIntList(info[4], "dilation"),
                                               toBool(info[5], "ceilMode")));
}

CS_ENTRY(logSoftmax) { return wrapTensor(info.Env(), at::log_softmax(unwrapTensor(info[0]), toInt(info[1], "dim"))); }
CS_ENTRY(softmax) { return wrapTensor(info.Env(), at::softmax(unwrapTensor(info[0]), toInt(info[1], "dim"))); }

static int64_t reductionOf(const Napi::Value& value) {
  std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "mean";
  if (name == "mean") return at::Reduction::Mean;
  if (name == "sum") return at::Reduction::Sum;
  if (name == "none") return at::Reduction::None;
  throw Napi::TypeError::New(value.Env(), "reduction must be mean, sum or none");
}

// crossEntropy(logits [N,C,...], target [N,...] int64, weight|null, ignoreIndex, reduction, labelSmoothing)
CS_ENTRY(crossEntropy) {
  return wrapTensor(info.Env(), at::cross_entropy_loss(unwrapTensor(info[0], "logits"), unwrapTensor(info[1], "target"),
                                                       toOptionalTensor(info[2]), reductionOf(info[4]),
                                                       toInt(info[3], "ignoreIndex"),
                                                       info[5].IsUndefined() ? 0.0 : toDouble(info[5], "labelSmoothing")));
}

// normalize(x, p, dim, eps): x / max(||x||_p, eps) along dim, as torch.nn.functional.normalize.
CS_ENTRY(normalize) {
  const at::Tensor& input = unwrapTensor(info[0]);
  at::Tensor norm = input.norm(toDouble(info[1], "p"), toInt(info[2], "dim"), true).clamp_min(toDouble(info[3], "eps"));
  return wrapTensor(info.Env(), input / norm.expand_as(input));
}

// bincount(x 1-D int, weights|null, minlength)
CS_ENTRY(bincount) {
  return wrapTensor(info.Env(), at::bincount(unwrapTensor(info[0]), toOptionalTensor(info[1]), toInt(info[2], "minlength")));
}

void registerNn(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, conv2d); CS_EXPORT(env, exports, batchNorm); CS_EXPORT(env, exports, dropout);
  CS_EXPORT(env, exports, interpolate); CS_EXPORT(env, exports, adaptiveAvgPool2d); CS_EXPORT(env, exports, maxPool2d);
  CS_EXPORT(env, exports, logSoftmax); CS_EXPORT(env, exports, softmax); CS_EXPORT(env, exports, crossEntropy);
  CS_EXPORT(env, exports, normalize); CS_EXPORT(env, exports, bincount);
}

}  // namespace cs
