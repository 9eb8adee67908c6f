// The supervised pixel contrastive losses as released with the paper (google-research,
// supervised_pixel_contrastive_loss/contrastive_loss.py: within_image_ and
// cross_image_supervised_pixel_contrastive_loss), computed exactly in row chunks as one autograd op.
//
// Per batch element the pixel set X is the valid pixels of view 1 ('within') or of both views ('cross');
// s(p, q) = x_p . x_q / tau. Positives P(p): same label (p itself included, both views in 'cross');
// negatives N(p): other label, and in 'cross' only inside p's own view. With nu(p) = log sum_{k in N(p)}
// exp s(p, k) (-inf when N(p) is empty), the released denominator exp s(p, q) + sum_N exp gives
//   l(p) = (1 / |P(p)|) sum_{q in P(p)} -log( exp s(p,q) / (exp s(p,q) + exp nu(p)) )
//        = (1 / |P(p)|) sum_{q in P(p)} softplus(nu(p) - s(p, q)),
// loss = (1 / B) sum_b (1 / |X_b|) sum_{p in X_b} l(p)   (every valid pixel is kept: it is its own positive;
// the batch mean counts images without valid pixels, as the released reduce_mean does).
// The positive term is not linear in s, so the linear trick of contrastive_supervised.cc does not apply:
// each chunk holds whole rows of s and evaluates nu and l(p) from them.
//
// Backward, with w = u / (B |X_b|), sigma(p, q) = sigmoid(nu(p) - s(p, q)), pi(p, k) = exp(s(p, k) - nu(p)),
// a(p) = (1 / |P(p)|) sum_{q in P(p)} sigma(p, q):
//   dL/ds(p, q) = -w sigma(p, q) / |P(p)|   for q in P(p)
//   dL/ds(p, k) =  w a(p) pi(p, k)          for k in N(p)        (0 for other pairs)
//   dL/dx = sum over rows and columns of s: W X^T / tau (as anchor) + X W / tau (as contrast pixel).
#include "common.h"
#include "contrastive.h"
#include <torch/csrc/autograd/custom_function.h>
#include <limits>
#include <stdexcept>

namespace cs {
namespace {
using namespace contrastive;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One batch element: valid pixels of view 1, then (cross) of view 2.
struct Element {
  Pixels view1, view2;
  at::Tensor labels;  // [M] int64
  at::Tensor view;    // [M] int64: 0 or 1
  double weight = 0;  // 1 / (B |X_b|)
  int64_t count() const { return view1.count() + view2.count(); }
};

std::vector<Element> buildElements(bool cross, const at::Tensor& labels1, const at::Tensor& labels2,
                                   const at::Tensor& ignored) {
  std::vector<Element> elements;
  const int64_t batch = labels1.size(0);
  for (int64_t b = 0; b < batch; b++) {
    Element element;
    at::Tensor labelsOf1, labelsOf2 = at::empty({0}, at::kLong);
    element.view1 = validPixels(labels1, b, ignored, labelsOf1);
    element.view2 = cross ? validPixels(labels2, b, ignored, labelsOf2)
                          : Pixels{at::empty({0}, at::kLong), at::empty({0}, at::kLong)};
    element.labels = at::cat({labelsOf1, labelsOf2});
    element.view = at::cat({at::zeros({element.view1.count()}, at::kLong), at::ones({element.view2.count()}, at::kLong)});
    if (element.count() == 0) continue;
    element.weight = 1.0 / (static_cast<double>(batch) * static_cast<double>(element.count()));
    elements.push_back(std::move(element));
  }
  return elements;
}

at::Tensor gatherElement(const Element& element, const at::Tensor& features1, const at::Tensor& features2) {
  return at::cat({gatherPixels(features1, element.view1), gatherPixels(features2, element.view2)}, 1);  // [D, M]
}

struct PairMasks {
  at::Tensor positive, notPositive, notNegative;  // bool [rows, M]
};

PairMasks pairMasks(const Element& element, bool cross, int64_t begin, int64_t rows, Workspace& workspace) {
  const int64_t columns = element.labels.size(0);
  const at::TensorOptions flags = element.labels.options().dtype(at::kBool);
  PairMasks masks;
  masks.positive = workspace.get(kFirstFreeSlot, {rows, columns}, flags);
  at::eq_out(masks.positive, element.labels.narrow(0, begin, rows).unsqueeze(1), element.labels.unsqueeze(0));
  masks.notPositive = workspace.get(kFirstFreeSlot + 1, {rows, columns}, flags);
  at::logical_not_out(masks.notPositive, masks.positive);
  masks.notNegative = masks.positive;
  if (cross) {  // negatives only inside the anchor's own view
    masks.notNegative = workspace.get(kFirstFreeSlot + 2, {rows, columns}, flags);
    at::ne_out(masks.notNegative, element.view.narrow(0, begin, rows).unsqueeze(1), element.view.unsqueeze(0));
    masks.notNegative.logical_or_(masks.positive);
  }
  return masks;
}

// Fills rowLoss[p] = l(p) and logNegative[p] = nu(p) for every pixel of the element.
void elementForward(const Element& element, bool cross, const at::Tensor& x, double tau, Workspaces& workspaces,
                    at::Tensor rowLoss, at::Tensor logNegative) {
  forEachRowChunk(x, x, tau, workspaces, [&](int64_t begin, at::Tensor& s, Workspace& workspace) {
    const int64_t rows = s.size(0);
    PairMasks masks = pairMasks(element, cross, begin, rows, workspace);
    at::Tensor negatives = workspace.get(kFirstFreeSlot + 3, s.sizes(), s.options());
    negatives.copy_(s).masked_fill_(masks.notNegative, -kInfinity);
    at::Tensor nu = rowLogSumExpInPlace(negatives);                        // [rows]
    at::Tensor positives = masks.positive.sum({1}).to(s.scalar_type());  // |P(p)| >= 1
    s.neg_().add_(nu.unsqueeze(1));                                      // nu(p) - s(p, q)
    at::softplus_out(s, s);
    s.masked_fill_(masks.notPositive, 0);
    rowLoss.narrow(0, begin, rows).copy_(s.sum({1}).div_(positives));
    logNegative.narrow(0, begin, rows).copy_(nu);
  });
}

ChunkVisitor pairWeights(const Element& element, bool cross, const at::Tensor& logNegative, double scale) {
  return [&element, cross, logNegative, scale](int64_t begin, at::Tensor& s, Workspace& workspace) {
    const int64_t rows = s.size(0);
    PairMasks masks = pairMasks(element, cross, begin, rows, workspace);
    at::Tensor positives = masks.positive.sum({1}, true).to(s.scalar_type());  // [rows, 1]
    s.sub_(logNegative.narrow(0, begin, rows).unsqueeze(1)).exp_();         // E = exp(s - nu)
    // On positives 1 / (1 + E) = sigmoid(nu - s); E = +inf there when N(p) is empty, giving 0.
    at::Tensor sigma = workspace.get(kFirstFreeSlot + 3, s.sizes(), s.options());
    sigma.copy_(s).add_(1).reciprocal_().masked_fill_(masks.notPositive, 0);
    at::Tensor a = sigma.sum({1}, true).div_(positives);
    s.masked_fill_(masks.notNegative, 0).mul_(a);  // a(p) pi(p, k) on negatives
    s.sub_(sigma.div_(positives)).mul_(scale);
  };
}

class OfficialContrastFunction : public torch::autograd::Function<OfficialContrastFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& features1, const at::Tensor& features2,
                            const at::Tensor& labels1, const at::Tensor& labels2, bool cross, double tau,
                            const std::vector<int64_t>& ignoreLabels) {
    at::NoGradGuard noGrad;
    at::Tensor flat1 = flattenFeatures(features1, "features1"), flat2 = flattenFeatures(features2, "features2");
    std::vector<Element> elements = buildElements(cross, flattenLabels(labels1, features1, "labels1"),
                                                  flattenLabels(labels2, features2, "labels2"),
                                                  at::tensor(ignoreLabels, at::kLong));
    Workspaces workspaces = makeWorkspaces();
    at::Tensor loss = at::zeros({}, features1.options());
    std::vector<at::Tensor> logNegatives;
    for (const Element& element : elements) {
      at::Tensor x = gatherElement(element, flat1, flat2);
      at::Tensor rowLoss = at::empty({element.count()}, x.options());
      at::Tensor logNegative = at::empty({element.count()}, x.options());
      elementForward(element, cross, x, tau, workspaces, rowLoss, logNegative);
      loss.add_(rowLoss.sum().mul_(element.weight));
      logNegatives.push_back(logNegative);
    }
    ctx->save_for_backward({features1, features2, labels1, labels2,
                            logNegatives.empty() ? at::empty({0}, features1.options()) : at::cat(logNegatives)});
    ctx->saved_data["cross"] = cross;
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["ignoreLabels"] = ignoreLabels;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    at::NoGradGuard noGrad;
    variable_list saved = ctx->get_saved_variables();
    const at::Tensor &features1 = saved[0], &features2 = saved[1], &logNegative = saved[4];
    const bool cross = ctx->saved_data["cross"].toBool();
    const double tau = ctx->saved_data["tau"].toDouble();
    const double upstream = gradOutputs[0].item<double>();
    at::Tensor flat1 = flattenFeatures(features1, "features1"), flat2 = flattenFeatures(features2, "features2");
    std::vector<Element> elements = buildElements(cross, flattenLabels(saved[2], features1, "labels1"),
                                                  flattenLabels(saved[3], features2, "labels2"),
                                                  at::tensor(ctx->saved_data["ignoreLabels"].toIntVector(), at::kLong));
    at::Tensor grad1 = at::zeros_like(flat1), grad2 = cross ? at::zeros_like(flat2) : at::Tensor();
    Workspaces workspaces = makeWorkspaces();
    int64_t offset = 0;
    for (const Element& element : elements) {
      at::Tensor x = gatherElement(element, flat1, flat2);
      at::Tensor asAnchor = at::zeros_like(x), asColumn = at::zeros_like(x);
      accumulateChunkGradients(x, x, tau, workspaces,
                               pairWeights(element, cross, logNegative.narrow(0, offset, element.count()),
                                           upstream * element.weight),
                               asAnchor, asColumn);
      offset += element.count();
      at::Tensor grad = asAnchor.add_(asColumn);
      const int64_t count1 = element.view1.count();
      scatterAddPixels(grad1, element.view1, grad.narrow(1, 0, count1));
      if (cross) scatterAddPixels(grad2, element.view2, grad.narrow(1, count1, element.view2.count()));
    }
    return {ctx->needs_input_grad(0) ? grad1.view(features1.sizes()) : at::Tensor(),
            cross && ctx->needs_input_grad(1) ? grad2.view(features2.sizes()) : at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// officialContrastiveLoss(mode 'within'|'cross', features1, labels1, features2, labels2, temperature,
//                         ignoreLabels[]) -> scalar loss. 'within' uses view 1 only.
CS_ENTRY(officialContrastiveLoss) {
  const std::string mode = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (mode != "within" && mode != "cross") {
    throw std::invalid_argument("officialContrastiveLoss: unknown mode '" + mode + "'; expected within or cross");
  }
  const at::Tensor& features1 = unwrapTensor(info[1], "features1");
  const at::Tensor& labels1 = unwrapTensor(info[2], "labels1");
  const at::Tensor& features2 = unwrapTensor(info[3], "features2");
  const at::Tensor& labels2 = unwrapTensor(info[4], "labels2");
  const double tau = toDouble(info[5], "temperature");
  const std::vector<int64_t> ignoreLabels = toIntList(info[6], "ignoreLabels");
  if (!(tau > 0)) throw std::invalid_argument("officialContrastiveLoss: temperature must be positive");
  if (features1.dim() != 4 || features2.dim() != 4 || features1.size(0) != features2.size(0) ||
      features1.size(1) != features2.size(1) || features1.scalar_type() != features2.scalar_type()) {
    throw std::invalid_argument("officialContrastiveLoss: features1 and features2 must be [B, D, H, W] with the "
                                "same B, D and dtype");
  }
  return wrapTensor(info.Env(), OfficialContrastFunction::apply(features1, features2, labels1, labels2,
                                                                mode == "cross", tau, ignoreLabels));
}

}  // namespace

void registerContrastiveOfficial(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, officialContrastiveLoss);
}

}  // namespace cs
