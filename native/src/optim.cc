// Optimiser steps, in place and without autograd, following PyTorch 1.13's single-tensor formulas so
// that a run matches PyTorch step for step.
#include "common.h"
#include <cmath>

namespace cs {

static Napi::Array arrayArg(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an array");
  return value.As<Napi::Array>();
}

// sgdStep(params[], momentumBuffers[] (handle|null), lr, momentum, dampening, weightDecay, nesterov)
// -> array with a new buffer handle where the input was null and the parameter had a gradient.
CS_ENTRY(sgdStep) {
  at::NoGradGuard noGrad;
  Napi::Env env = info.Env();
  Napi::Array params = arrayArg(info[0], "params");
  Napi::Array buffers = arrayArg(info[1], "momentumBuffers");
  double lr = toDouble(info[2], "lr"), momentum = toDouble(info[3], "momentum");
  double dampening = toDouble(info[4], "dampening"), weightDecay = toDouble(info[5], "weightDecay");
  bool nesterov = toBool(info[6], "nesterov");
  Napi::Array created = Napi::Array::New(env, params.Length());
  for (uint32_t i = 0; i < params.Length(); i++) {
    at::Tensor& param = unwrapTensor(params[i], "param");
    if (!param.grad().defined()) continue;
    at::Tensor step = param.grad();
    if (weightDecay != 0) step = step.add(param, weightDecay);
    if (momentum != 0) {
      Napi::Value bufferValue = buffers[i];
      at::Tensor buffer;
      if (bufferValue.IsNull() || bufferValue.IsUndefined()) {
        buffer = step.clone().detach();
        created.Set(i, wrapTensor(env, buffer));
      } else {
        buffer = unwrapTensor(bufferValue, "momentum buffer");
        buffer.mul_(momentum).add_(step, 1 - dampening);
      }
      step = nesterov ? step.add(buffer, momentum) : buffer;
    }
    param.add_(step, -lr);
  }
  return created;
}

// adamwStep(params[], expAvg[], expAvgSq[], steps[], lr, beta1, beta2, eps, weightDecay): a parameter with a
// gradient advances its step count (written back into steps[], as PyTorch counts per parameter) and is updated.
CS_ENTRY(adamwStep) {
  at::NoGradGuard noGrad;
  Napi::Array params = arrayArg(info[0], "params");
  Napi::Array expAvgs = arrayArg(info[1], "expAvg");
  Napi::Array expAvgSqs = arrayArg(info[2], "expAvgSq");
  Napi::Array steps = arrayArg(info[3], "steps");
  double lr = toDouble(info[4], "lr"), beta1 = toDouble(info[5], "beta1"), beta2 = toDouble(info[6], "beta2");
  double eps = toDouble(info[7], "eps"), weightDecay = toDouble(info[8], "weightDecay");
  for (uint32_t i = 0; i < params.Length(); i++) {
    at::Tensor& param = unwrapTensor(params[i], "param");
    if (!param.grad().defined()) continue;
    const at::Tensor& grad = param.grad();
    at::Tensor& expAvg = unwrapTensor(expAvgs[i], "expAvg");
    at::Tensor& expAvgSq = unwrapTensor(expAvgSqs[i], "expAvgSq");
    double step = toDouble(steps[i], "step") + 1;
    steps.Set(i, Napi::Number::New(info.Env(), step));
    param.mul_(1 - lr * weightDecay);
    expAvg.mul_(beta1).add_(grad, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    double biasCorrection1 = 1 - std::pow(beta1, step);
    double biasCorrection2 = 1 - std::pow(beta2, step);
    double stepSize = lr / biasCorrection1;
    at::Tensor denom = (expAvgSq.sqrt() / std::sqrt(biasCorrection2)).add_(eps);
    param.addcdiv_(expAvg, denom, -stepSize);
  }
  return info.Env().Undefined();
}

void registerOptim(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, sgdStep);
  CS_EXPORT(env, exports, adamwStep);
}

}  // namespace cs
