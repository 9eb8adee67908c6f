// Elementwise arithmetic, comparisons, where, clamp and matrix products.
#include "common.h"

namespace cs {

// A binary op whose second operand is a tensor or a JS number.
template <typename TensorOp, typename ScalarOp>
static Napi::Value binary(const Napi::CallbackInfo& info, TensorOp tensorOp, ScalarOp scalarOp) {
  const at::Tensor& self = unwrapTensor(info[0], "left operand");
  if (isNumber(info[1])) return wrapTensor(info.Env(), scalarOp(self, at::Scalar(toDouble(info[1], "right operand"))));
  return wrapTensor(info.Env(), tensorOp(self, unwrapTensor(info[1], "right operand")));
}

#define CS_BINARY(name, tensorExpr, scalarExpr)                                                   \
  CS_ENTRY(name) {                                                                                \
    return binary(                                                                                \
        info, [](const at::Tensor& a, const at::Tensor& b) { return tensorExpr; },                \
        [](const at::Tensor& a, const at::Scalar& b) { return scalarExpr; });                     \
  }

CS_BINARY(add, at::add(a, b), at::add(a, b))
CS_BINARY(sub, at::sub(a, b), at::sub(a, b))
CS_BINARY(mul, at::mul(a, b), at::mul(a, b))
CS_BINARY(div, at::div(a, b), at::div(a, b))
CS_BINARY(pow, at::pow(a, b), at::pow(a, b))
CS_BINARY(remainder, at::remainder(a, b), at::remainder(a, b))
CS_BINARY(maximum, at::maximum(a, b), at::clamp_min(a, b))
CS_BINARY(minimum, at::minimum(a, b), at::clamp_max(a, b))
CS_BINARY(eq, at::eq(a, b), at::eq(a, b))
CS_BINARY(ne, at::ne(a, b), at::ne(a, b))
CS_BINARY(lt, at::lt(a, b), at::lt(a, b))
CS_BINARY(le, at::le(a, b), at::le(a, b))
CS_BINARY(gt, at::gt(a, b), at::gt(a, b))
CS_BINARY(ge, at::ge(a, b), at::ge(a, b))
CS_BINARY(logicalAnd, at::logical_and(a, b), at::logical_and(a, at::scalar_tensor(b, a.options())))
CS_BINARY(logicalOr, at::logical_or(a, b), at::logical_or(a, at::scalar_tensor(b, a.options())))

#define CS_UNARY(name, expr) \
  CS_ENTRY(name) {           \
    const at::Tensor& a = unwrapTensor(info[0]); \
    return wrapTensor(info.Env(), expr); \
  }

CS_UNARY(neg, at::neg(a))
CS_UNARY(abs, at::abs(a))
CS_UNARY(exp, at::exp(a))
CS_UNARY(log, at::log(a))
CS_UNARY(sqrt, at::sqrt(a))
CS_UNARY(rsqrt, at::rsqrt(a))
CS_UNARY(sigmoid, at::sigmoid(a))
CS_UNARY(tanh, at::tanh(a))
CS_UNARY(floor, at::floor(a))
CS_UNARY(ceil, at::ceil(a))
CS_UNARY(round, at::round(a))
CS_UNARY(sign, at::sign(a))
CS_UNARY(square, at::square(a))
CS_UNARY(reciprocal, at::reciprocal(a))
CS_UNARY(logicalNot, at::logical_not(a))
CS_UNARY(isnan, at::isnan(a))
CS_UNARY(relu, at::relu(a))
CS_UNARY(zerosLike, at::zeros_like(a))
CS_UNARY(onesLike, at::ones_like(a))

// clamp(t, min|null, max|null)
CS_ENTRY(clamp) {
  c10::optional<at::Scalar> low, high;
  if (isNumber(info[1])) low = toDouble(info[1], "min");
  if (isNumber(info[2])) high = toDouble(info[2], "max");
  return wrapTensor(info.Env(), at::clamp(unwrapTensor(info[0]), low, high));
}

// where(condition, a, b): a and b are tensors or numbers.
CS_ENTRY(where) {
  const at::Tensor& condition = unwrapTensor(info[0], "condition");
  auto operand = [&](const Napi::Value& value, const at::Tensor* like) -> at::Tensor {
    if (!isNumber(value)) return unwrapTensor(value, "where operand");
    auto options = like ? like->options() : at::TensorOptions().dtype(at::kFloat);
    return at::scalar_tensor(toDouble(value, "where operand"), options);
  };
  const at::Tensor* likeA = isNumber(info[1]) ? nullptr : &unwrapTensor(info[1]);
  const at::Tensor* likeB = isNumber(info[2]) ? nullptr : &unwrapTensor(info[2]);
  at::Tensor a = operand(info[1], likeA ? likeA : likeB);
  at::Tensor b = operand(info[2], likeB ? likeB : likeA);
  return wrapTensor(info.Env(), at::where(condition, a, b));
}

CS_ENTRY(matmul) { return wrapTensor(info.Env(), at::matmul(unwrapTensor(info[0]), unwrapTensor(info[1]))); }
CS_ENTRY(bmm) { return wrapTensor(info.Env(), at::bmm(unwrapTensor(info[0]), unwrapTensor(info[1]))); }

void registerMath(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, add); CS_EXPORT(env, exports, sub); CS_EXPORT(env, exports, mul);
  CS_EXPORT(env, exports, div); CS_EXPORT(env, exports, pow); CS_EXPORT(env, exports, remainder);
  CS_EXPORT(env, exports, maximum); CS_EXPORT(env, exports, minimum);
  CS_EXPORT(env, exports, eq); CS_EXPORT(env, exports, ne); CS_EXPORT(env, exports, lt);
  CS_EXPORT(env, exports, le); CS_EXPORT(env, exports, gt); CS_EXPORT(env, exports, ge);
  CS_EXPORT(env, exports, logicalAnd); CS_EXPORT(env, exports, logicalOr);
  CS_EXPORT(env, exports, neg); CS_EXPORT(env, exports, abs); CS_EXPORT(env, exports, exp);
  CS_EXPORT(env, exports, log); CS_EXPORT(env, exports, sqrt); CS_EXPORT(env, exports, rsqrt);
  CS_EXPORT(env, exports, sigmoid); CS_EXPORT(env, exports, tanh); CS_EXPORT(env, exports, floor);
  CS_EXPORT(env, exports, ceil); CS_EXPORT(env, exports, round); CS_EXPORT(env, exports, sign);
  CS_EXPORT(env, exports, square); CS_EXPORT(env, exports, reciprocal);
  CS_EXPORT(env, exports, logicalNot); CS_EXPORT(env, exports, isnan); CS_EXPORT(env, exports, relu);
  CS_EXPORT(env, exports, zerosLike); CS_EXPORT(env, exports, onesLike);
  CS_EXPORT(env, exports, clamp); CS_EXPORT(env, exports, where);
  CS_EXPORT(env, exports, matmul); CS_EXPORT(env, exports, bmm);
}

}  // namespace cs
