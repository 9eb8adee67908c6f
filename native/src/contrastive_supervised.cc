// Within-image, cross-image and batch pixel-wise label-based contrastive losses (Zhao et al., "Contrastive
// Learning for Label Efficient Semantic Segmentation", ICCV 2021), each one fused autograd op, exact, in
// O((N + M) D + T chunk M) extra memory with T intra-op threads (contrastive.h): no N x M matrix is ever
// formed, and nothing of size D x M is kept per thread.
//
// Notation: anchors f_p (valid pixels of I), contrast pixels g_k, s(p, k) = f_p . g_k / tau, class c(p).
// Every anchor p with at least one positive contributes w l(p), the weight w being 1 / (kept anchors of
// its image x images with kept anchors) for within/cross and 1 / (kept anchors of the batch) for batch:
//   l(p) = lse(p) - (1 / |P(p)|) sum_{q in P(p)} s(p, q),   lse(p) = log sum_{k in K(p)} exp s(p, k).
// The positive term is linear in s, so with per-class sums S_c = sum_{q in P, c(q) = c} g_q and counts n_c:
//   (1 / |P(p)|) sum_{q in P(p)} s(p, q) = f_p . S_{c(p)} / (n_{c(p)} tau)          (O((N + M) D))
// and only lse needs the similarities, computed over row chunks (contrastive_kernel.cc).
//   within: K(p) = valid pixels of Î (the distorted view of the same image), P(p) = those of class c(p).
//   batch:  the same with all images of the batch in one bag.
//   cross:  K(p) = valid pixels of Î  ∪  valid pixels of Ĵ with c = c(p); P(p) = same-class pixels of both.
//           The Ĵ part only involves same-class pairs: anchors and Ĵ are sorted by class and that part is
//           computed as per-class blocks, whose partial lse is merged with logaddexp (an online lse).
//
// Backward (upstream gradient u, a = u w / tau, pi(p, k) = exp(s(p, k) - lse(p)) for k in K(p), else 0):
//   dL/df_p = a [ sum_k pi(p, k) g_k  -  S_{c(p)} / n_{c(p)} ]
//   dL/dg_k = a [ sum_p pi(p, k) f_p  -  T_{c(k)} ],   T_c = sum_{kept p, c(p) = c} f_p / n_c
// The softmax parts are recomputed chunk by chunk from the saved lse (one float per anchor); the linear
// parts use the class sums again.
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

enum class Kind : int64_t { Within = 0, Cross = 1, Batch = 2 };

struct Group {
  Pixels anchors;   // kept anchors of view 1 (at least one positive), sorted by class
  Pixels contrast;  // valid pixels of view 2 of the same image(s): always in the denominator
  Pixels partner;   // cross: valid pixels of the partner's view 2, sorted by class (positives only)
  at::Tensor anchorClass, contrastClass, partnerClass;  // compact class ids, int64
  at::Tensor positives;                                 // [K] int64: positives per class
  std::vector<Block> blocks;  // cross: anchors x partner pixels of one class each
  double weight = 0;
};

// The gathered features of a group, one pixel per column.
struct GroupFeatures {
  at::Tensor anchors, contrast, partner;  // [D, N], [D, M], [D, M']
};

Pixels emptyPixels() { return {at::empty({0}, at::kLong), at::empty({0}, at::kLong)}; }

std::vector<Block> classBlocks(const at::Tensor& anchorClass, const at::Tensor& partnerClass, int64_t classes) {
  std::vector<Block> blocks;
  if (partnerClass.size(0) == 0 || anchorClass.size(0) == 0) return blocks;
  at::Tensor anchorCounts = at::bincount(anchorClass, {}, classes).contiguous();
  at::Tensor partnerCounts = at::bincount(partnerClass, {}, classes).contiguous();
  auto anchorCount = anchorCounts.accessor<int64_t, 1>();
  auto partnerCount = partnerCounts.accessor<int64_t, 1>();
  int64_t anchorBegin = 0, columnBegin = 0;
  for (int64_t c = 0; c < classes; c++) {
    if (anchorCount[c] > 0 && partnerCount[c] > 0) {
      blocks.push_back({anchorBegin, anchorCount[c], columnBegin, partnerCount[c]});
    }
    anchorBegin += anchorCount[c];
    columnBegin += partnerCount[c];
  }
  return blocks;
}

Group makeGroup(const Pixels& anchors, const at::Tensor& anchorLabels, const Pixels& contrast,
                const at::Tensor& contrastLabels, const Pixels& partner, const at::Tensor& partnerLabels) {
  const int64_t na = anchors.count(), nc = contrast.count(), np = partner.count();
  at::Tensor values, inverse;
  std::tie(values, inverse, std::ignore) = at::_unique2(at::cat({anchorLabels, contrastLabels, partnerLabels}),
                                                        true, true, false);
  const int64_t classes = values.size(0);
  Group group;
  group.contrast = contrast;
  group.contrastClass = inverse.narrow(0, na, nc);
  group.positives = at::bincount(group.contrastClass, {}, classes);
  at::Tensor partnerClass = inverse.narrow(0, na + nc, np);
  if (np > 0) group.positives.add_(at::bincount(partnerClass, {}, classes));
  // Anchors without a positive are skipped; the rest are sorted by class (stable).
  at::Tensor anchorClass = inverse.narrow(0, 0, na);
  at::Tensor kept = group.positives.index_select(0, anchorClass).gt(0).nonzero().squeeze(1);
  at::Tensor order;
  std::tie(group.anchorClass, order) = at::sort(anchorClass.index_select(0, kept), true, 0, false);
  group.anchors = anchors.select(kept.index_select(0, order));
  std::tie(group.partnerClass, order) = at::sort(partnerClass, true, 0, false);
  group.partner = partner.select(order);
  group.blocks = classBlocks(group.anchorClass, group.partnerClass, classes);
  return group;
}

std::vector<Group> buildGroups(Kind kind, const at::Tensor& labels, const at::Tensor& distortedLabels,
                               int64_t ignoreIndex, const std::vector<int64_t>& partner) {
  const at::Tensor ignored = at::full({1}, ignoreIndex, at::kLong);
  const int64_t batch = labels.size(0);
  const at::Tensor noLabels = at::empty({0}, at::kLong);
  std::vector<Group> groups;
  if (kind == Kind::Batch) {
    std::vector<Pixels> anchorParts, contrastParts;
    std::vector<at::Tensor> anchorLabels(batch), contrastLabels(batch);
    for (int64_t b = 0; b < batch; b++) {
      anchorParts.push_back(validPixels(labels, b, ignored, anchorLabels[b]));
      contrastParts.push_back(validPixels(distortedLabels, b, ignored, contrastLabels[b]));
    }
    groups.push_back(makeGroup(concatPixels(anchorParts), at::cat(anchorLabels), concatPixels(contrastParts),
                               at::cat(contrastLabels), emptyPixels(), noLabels));
  } else {
    for (int64_t b = 0; b < batch; b++) {
      at::Tensor anchorLabels, contrastLabels, partnerLabels = noLabels;
      Pixels anchors = validPixels(labels, b, ignored, anchorLabels);
      Pixels contrast = validPixels(distortedLabels, b, ignored, contrastLabels);
      Pixels partnerPixels = kind == Kind::Cross ? validPixels(distortedLabels, partner[b], ignored, partnerLabels)
                                                 : emptyPixels();
      groups.push_back(makeGroup(anchors, anchorLabels, contrast, contrastLabels, partnerPixels, partnerLabels));
    }
  }
  std::vector<Group> kept;
  for (Group& group : groups) {
    if (group.anchors.count() > 0) kept.push_back(std::move(group));
  }
  int64_t batchAnchors = 0;
  for (const Group& group : kept) batchAnchors += group.anchors.count();
  for (Group& group : kept) {
    const double anchors = static_cast<double>(group.anchors.count());
    // within/cross: mean over an image's anchors, then over images; batch: mean over all anchors.
    group.weight = kind == Kind::Batch ? 1.0 / static_cast<double>(batchAnchors)
                                       : 1.0 / (anchors * static_cast<double>(kept.size()));
  }
  return kept;
}

GroupFeatures gatherGroup(const Group& group, const at::Tensor& features, const at::Tensor& distorted) {
  return {gatherPixels(features, group.anchors), gatherPixels(distorted, group.contrast),
          gatherPixels(distorted, group.partner)};
}

// S_c / n_c per class, [D, K]: the mean positive feature of each class.
at::Tensor classMeans(const Group& group, const GroupFeatures& features) {
  const int64_t classes = group.positives.size(0);
  at::Tensor sums = at::zeros({features.contrast.size(0), classes}, features.contrast.options());
  sums.index_add_(1, group.contrastClass, features.contrast);
  if (group.partner.count() > 0) sums.index_add_(1, group.partnerClass, features.partner);
  return sums.div_(group.positives.clamp_min(1).to(sums.scalar_type()));
}

// Writes each chunk's row lse into target[rows].
ChunkVisitor storeLse(at::Tensor target) {
  return [target](int64_t begin, at::Tensor& s, Workspace&) {
    target.narrow(0, begin, s.size(0)).copy_(rowLogSumExpInPlace(s));
  };
}

// lse(p) over K(p) for every anchor of the group, [N].
at::Tensor groupLogSumExp(const Group& group, const GroupFeatures& features, double tau, Workspaces& workspaces) {
  const double infinity = std::numeric_limits<double>::infinity();
  at::Tensor lse = at::full({group.anchors.count()}, -infinity, features.anchors.options());
  if (group.contrast.count() > 0) forEachRowChunk(features.anchors, features.contrast, tau, workspaces, storeLse(lse));
  if (group.blocks.empty()) return lse;
  // The partner's same-class pixels: a partial lse per anchor, merged online.
  at::Tensor partnerLse = at::full_like(lse, -infinity);
  forEachBlockChunk(features.anchors, features.partner, group.blocks, tau, workspaces, storeLse(partnerLse));
  return at::logaddexp(lse, partnerLse);
}

// sum_p w l(p) for one group; `lse` receives lse(p).
at::Tensor groupLoss(const Group& group, const GroupFeatures& features, double tau, Workspaces& workspaces,
                     at::Tensor& lse) {
  lse = groupLogSumExp(group, features, tau, workspaces);
  at::Tensor meanPositive = classMeans(group, features).index_select(1, group.anchorClass);  // [D, N]
  at::Tensor positiveTerm = features.anchors.mul(meanPositive).sum({0}).div_(tau);         // [N]
  return lse.sub(positiveTerm).sum().mul_(group.weight);
}

struct GroupGradients {
  at::Tensor anchors, contrast, partner;  // undefined when not needed
};

void groupBackward(const Group& group, const GroupFeatures& features, const at::Tensor& lse, double tau,
                   double scale, Workspaces& workspaces, GroupGradients& grads) {
  // W = u w pi, in place on the recomputed chunk similarities.
  auto softmaxWeights = [scale](at::Tensor rowLse) -> ChunkVisitor {
    return [scale, rowLse](int64_t begin, at::Tensor& s, Workspace&) {
      s.sub_(rowLse.narrow(0, begin, s.size(0)).unsqueeze(1)).exp_().mul_(scale);
    };
  };
  if (group.contrast.count() > 0) {
    accumulateChunkGradients(features.anchors, features.contrast, tau, workspaces, softmaxWeights(lse), grads.anchors,
                             grads.contrast);
  }
  if (!group.blocks.empty()) {
    accumulateBlockGradients(features.anchors, features.partner, group.blocks, tau, workspaces, softmaxWeights(lse),
                             grads.anchors, grads.partner);
  }
  // The linear positive term.
  if (grads.anchors.defined()) {
    grads.anchors.sub_(classMeans(group, features).index_select(1, group.anchorClass), scale / tau);
  }
  if (grads.contrast.defined()) {
    const int64_t classes = group.positives.size(0);
    at::Tensor anchorMeans = at::zeros({features.anchors.size(0), classes}, features.anchors.options());
    anchorMeans.index_add_(1, group.anchorClass, features.anchors);
    anchorMeans.div_(group.positives.clamp_min(1).to(anchorMeans.scalar_type()));  // T_c
    grads.contrast.sub_(anchorMeans.index_select(1, group.contrastClass), scale / tau);
    if (group.partner.count() > 0) grads.partner.sub_(anchorMeans.index_select(1, group.partnerClass), scale / tau);
  }
}

class PixelContrastFunction : public torch::autograd::Function<PixelContrastFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& features, const at::Tensor& distorted,
                            const at::Tensor& labels, const at::Tensor& distortedLabels, int64_t kind, double tau,
                            int64_t ignoreIndex, const std::vector<int64_t>& partner) {
    at::NoGradGuard noGrad;
    at::Tensor flat = flattenFeatures(features, "pixel contrastive loss features");
    at::Tensor flatDistorted = flattenFeatures(distorted, "pixel contrastive loss distortedFeatures");
    std::vector<Group> groups = buildGroups(static_cast<Kind>(kind), flattenLabels(labels, features, "labels"),
                                            flattenLabels(distortedLabels, distorted, "distortedLabels"),
                                            ignoreIndex, partner);
    Workspaces workspaces = makeWorkspaces();
    at::Tensor loss = at::zeros({}, features.options());
    std::vector<at::Tensor> lses;
    for (const Group& group : groups) {
      at::Tensor lse;
      loss.add_(groupLoss(group, gatherGroup(group, flat, flatDistorted), tau, workspaces, lse));
      lses.push_back(lse);
    }
    at::Tensor savedLse = lses.empty() ? at::empty({0}, features.options()) : at::cat(lses);
    ctx->save_for_backward({features, distorted, labels, distortedLabels, savedLse});
    ctx->saved_data["kind"] = kind;
    ctx->saved_data["tau"] = tau;
    ctx->saved_data["ignoreIndex"] = ignoreIndex;
    ctx->saved_data["partner"] = partner;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    at::NoGradGuard noGrad;
    variable_list saved = ctx->get_saved_variables();
    const at::Tensor &features = saved[0], &distorted = saved[1], &lse = saved[4];
    const bool needFeatures = ctx->needs_input_grad(0), needDistorted = ctx->needs_input_grad(1);
    const double tau = ctx->saved_data["tau"].toDouble();
    const double upstream = gradOutputs[0].item<double>();
    at::Tensor flat = flattenFeatures(features, "features");
    at::Tensor flatDistorted = flattenFeatures(distorted, "distortedFeatures");
    std::vector<Group> groups = buildGroups(static_cast<Kind>(ctx->saved_data["kind"].toInt()),
                                            flattenLabels(saved[2], features, "labels"),
                                            flattenLabels(saved[3], distorted, "distortedLabels"),
                                            ctx->saved_data["ignoreIndex"].toInt(),
                                            ctx->saved_data["partner"].toIntVector());
    at::Tensor gradFeatures = needFeatures ? at::zeros_like(flat) : at::Tensor();
    at::Tensor gradDistorted = needDistorted ? at::zeros_like(flatDistorted) : at::Tensor();
    Workspaces workspaces = makeWorkspaces();
    int64_t offset = 0;
    for (const Group& group : groups) {
      GroupFeatures gathered = gatherGroup(group, flat, flatDistorted);
      GroupGradients grads;
      if (needFeatures) grads.anchors = at::zeros_like(gathered.anchors);
      if (needDistorted) {
        grads.contrast = at::zeros_like(gathered.contrast);
        grads.partner = at::zeros_like(gathered.partner);
      }
      const int64_t count = group.anchors.count();
      groupBackward(group, gathered, lse.narrow(0, offset, count), tau, upstream * group.weight, workspaces, grads);
      offset += count;
      if (needFeatures) scatterAddPixels(gradFeatures, group.anchors, grads.anchors);
      if (needDistorted) {
        scatterAddPixels(gradDistorted, group.contrast, grads.contrast);
        scatterAddPixels(gradDistorted, group.partner, grads.partner);
      }
    }
    if (needFeatures) gradFeatures = gradFeatures.view(features.sizes());
    if (needDistorted) gradDistorted = gradDistorted.view(distorted.sizes());
    return {gradFeatures, gradDistorted, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

Kind kindOf(const std::string& name) {
  if (name == "within") return Kind::Within;
  if (name == "cross") return Kind::Cross;
  if (name == "batch") return Kind::Batch;
  throw std::invalid_argument("pixelContrastiveLoss: unknown kind '" + name + "'; expected within, cross or batch");
}

void checkInputs(Kind kind, const at::Tensor& features, const at::Tensor& distorted, double tau,
                 const std::vector<int64_t>& partner) {
  if (features.dim() != 4 || distorted.dim() != 4 || features.size(0) != distorted.size(0) ||
      features.size(1) != distorted.size(1) || features.scalar_type() != distorted.scalar_type()) {
    throw std::invalid_argument("pixelContrastiveLoss: features and distortedFeatures must be [B, D, H, W] "
                                "tensors with the same B, D and dtype");
  }
  if (!(tau > 0)) throw std::invalid_argument("pixelContrastiveLoss: temperature must be positive");
  if (kind != Kind::Cross) return;
  const int64_t batch = features.size(0);
  if (static_cast<int64_t>(partner.size()) != batch) {
    throw std::invalid_argument("pixelContrastiveLoss: partner must have one entry per image");
  }
  for (int64_t b = 0; b < batch; b++) {
    if (partner[b] < 0 || partner[b] >= batch || partner[b] == b) {
      throw std::invalid_argument("pixelContrastiveLoss: partner[b] must be another image of the batch");
    }
  }
}

// pixelContrastiveLoss(kind 'within'|'cross'|'batch', features, labels, distortedFeatures, distortedLabels,
//                      temperature, ignoreIndex, partner[]) -> scalar loss tensor (differentiable wrt both
// feature tensors). partner is used by 'cross' only (one entry per image).
CS_ENTRY(pixelContrastiveLoss) {
  const Kind kind = kindOf(info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "");
  const at::Tensor& features = unwrapTensor(info[1], "features");
  const at::Tensor& labels = unwrapTensor(info[2], "labels");
  const at::Tensor& distorted = unwrapTensor(info[3], "distortedFeatures");
  const at::Tensor& distortedLabels = unwrapTensor(info[4], "distortedLabels");
  const double tau = toDouble(info[5], "temperature");
  const int64_t ignoreIndex = toInt(info[6], "ignoreIndex");
  const std::vector<int64_t> partner = toIntList(info[7], "partner");
  checkInputs(kind, features, distorted, tau, partner);
  return wrapTensor(info.Env(), PixelContrastFunction::apply(features, distorted, labels, distortedLabels,
                                                             static_cast<int64_t>(kind), tau, ignoreIndex, partner));
}

}  // namespace

void registerContrastiveSupervised(Napi::Env env, Napi::Object exports) {
  CS_EXPORT(env, exports, pixelContrastiveLoss);
}

}  // namespace cs
