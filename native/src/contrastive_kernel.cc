// Row-chunked similarity passes and pixel gathering shared by the contrastive loss kernels.
#include "contrastive.h"
#include "common.h"
#include <ATen/Parallel.h>
#include <algorithm>
#include <atomic>
#include <stdexcept>

namespace cs::contrastive {

namespace {
// Rows per chunk when nonzero (a test hook: small chunks exercise the chunk seams on tiny inputs).
std::atomic<int64_t> forcedChunkRows{0};

// About 8 MiB of float32 similarities per thread: large enough for efficient matmuls, small enough to
// stay far below the N x M matrix (1 GiB per image at 128x128).
constexpr int64_t kChunkElements = int64_t{1} << 21;

int64_t chunkRows(int64_t rows, int64_t columns, int64_t threads) {
  if (forcedChunkRows.load() > 0) return forcedChunkRows.load();
  int64_t bySize = std::clamp<int64_t>(kChunkElements / std::max<int64_t>(columns, 1), 16, 1024);
  // At least two chunks per thread so that uneven chunks still keep every core busy.
  int64_t balanced = std::max<int64_t>(16, (rows + 2 * threads - 1) / (2 * threads));
  return std::max<int64_t>(1, std::min(bySize, balanced));
}

void checkPair(const at::Tensor& anchors, const at::Tensor& columns) {
  if (anchors.dim() != 2 || columns.dim() != 2 || anchors.size(0) != columns.size(0) ||
      anchors.scalar_type() != columns.scalar_type()) {
    throw std::invalid_argument("contrastive kernel: anchors and columns must be [D, N] and [D, M] of one dtype");
  }
}

// The workspace of the calling intra-op thread. Workspaces are sized to the thread count when a call
// starts; a thread index past it (threads raised meanwhile, a nested parallel region) would make two
// threads share scratch buffers, so it is an error rather than something to clamp.
Workspace& threadWorkspace(Workspaces& workspaces) {
  const int thread = at::get_thread_num();
  TORCH_CHECK(thread >= 0 && static_cast<size_t>(thread) < workspaces.size(), "contrastive kernel: intra-op thread ",
              thread, " has no workspace (", workspaces.size(), " made); was the thread count changed during the call?");
  return workspaces[static_cast<size_t>(thread)];
}

// Runs body(begin, rows, workspace) over the row chunks of N rows, in parallel over chunks.
template <typename Body>
void forEachChunk(int64_t rows, int64_t columns, Workspaces& workspaces, const Body& body) {
  if (rows == 0 || columns == 0) return;
  const int64_t threads = static_cast<int64_t>(workspaces.size());
  const int64_t chunk = chunkRows(rows, columns, threads);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    // Worker threads do not inherit the caller's thread-local autograd state.
    at::NoGradGuard noGrad;
    Workspace& workspace = threadWorkspace(workspaces);
    for (int64_t index = first; index < last; index++) {
      const int64_t begin = index * chunk;
      body(begin, std::min(chunk, rows - begin), workspace);
    }
  });
}

at::Tensor similarities(const at::Tensor& anchors, const at::Tensor& columns, int64_t begin, int64_t rows, double tau,
                        Workspace& workspace) {
  at::Tensor s = workspace.get(kSimilaritySlot, {rows, columns.size(1)}, columns.options());
  // beta = 0: the buffer's previous contents are ignored. [rows, D] x [D, M] -> [rows, M]
  s.addmm_(anchors.narrow(1, begin, rows).t(), columns, 0, 1.0 / tau);
  return s;
}
}  // namespace

at::Tensor Workspace::get(size_t slot, at::IntArrayRef sizes, const at::TensorOptions& options) {
  if (slots_.size() <= slot) slots_.resize(slot + 1);
  at::Tensor& tensor = slots_[slot];
  if (!tensor.defined() || tensor.scalar_type() != options.dtype().toScalarType()) {
    tensor = at::empty(sizes, options);
  } else {
    tensor.resize_(sizes);
  }
  return tensor;
}

Workspaces makeWorkspaces() { return Workspaces(static_cast<size_t>(std::max(1, at::get_num_threads()))); }

void forEachRowChunk(const at::Tensor& anchors, const at::Tensor& columns, double tau, Workspaces& workspaces,
                     const ChunkVisitor& visit) {
  checkPair(anchors, columns);
  forEachChunk(anchors.size(1), columns.size(1), workspaces, [&](int64_t begin, int64_t rows, Workspace& workspace) {
    at::Tensor s = similarities(anchors, columns, begin, rows, tau, workspace);
    visit(begin, s, workspace);
  });
}

// Rounds of T consecutive row chunks (T = workspaces): first the chunks of a round in parallel, chunk k
// with workspace k, each turning its similarities into W (in rows k of one round buffer) and adding its
// own rows of gradAnchors; then gradColumns in parallel over T column blocks, one addmm per block
//   gradColumns[:, block] += A[:, round rows] W[:, block] / tau,
// so that every column is written by one thread. The round buffer is T x chunk x M: there is no
// per-thread D x M column accumulator (128 MiB per thread at D = 256, M = 131072).
void accumulateChunkGradients(const at::Tensor& anchors, const at::Tensor& columns, double tau,
                              Workspaces& workspaces, const ChunkVisitor& coefficients, at::Tensor gradAnchors,
                              at::Tensor gradColumns) {
  checkPair(anchors, columns);
  const int64_t rows = anchors.size(1), width = columns.size(1);
  if (rows == 0 || width == 0) return;
  const int64_t threads = static_cast<int64_t>(workspaces.size());
  const int64_t chunk = chunkRows(rows, width, threads);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const int64_t blockWidth = (width + threads - 1) / threads;
  at::Tensor roundWeights = at::empty({std::min(threads, chunks) * chunk, width}, columns.options());
  for (int64_t roundBegin = 0; roundBegin < chunks; roundBegin += threads) {
    const int64_t inRound = std::min(threads, chunks - roundBegin);
    const int64_t firstRow = roundBegin * chunk;
    const int64_t roundRows = std::min(inRound * chunk, rows - firstRow);
    at::parallel_for(0, inRound, 1, [&](int64_t first, int64_t last) {
      at::NoGradGuard noGrad;  // worker threads do not inherit the caller's autograd state
      for (int64_t k = first; k < last; k++) {
        const int64_t begin = firstRow + k * chunk;
        at::Tensor s = roundWeights.narrow(0, k * chunk, std::min(chunk, rows - begin));
        s.addmm_(anchors.narrow(1, begin, s.size(0)).t(), columns, 0, 1.0 / tau);  // [rows, D] x [D, M]
        coefficients(begin, s, workspaces[static_cast<size_t>(k)]);              // s is now W = dLoss/ds
        if (gradAnchors.defined()) gradAnchors.narrow(1, begin, s.size(0)).addmm_(columns, s.t(), 1, 1.0 / tau);
      }
    });
    if (!gradColumns.defined()) continue;
    const at::Tensor roundAnchors = anchors.narrow(1, firstRow, roundRows);   // [D, R]
    const at::Tensor weights = roundWeights.narrow(0, 0, roundRows);          // [R, M]
    at::parallel_for(0, threads, 1, [&](int64_t first, int64_t last) {
      at::NoGradGuard noGrad;
      for (int64_t block = first; block < last; block++) {
        const int64_t columnBegin = block * blockWidth;
        if (columnBegin >= width) break;
        const int64_t count = std::min(blockWidth, width - columnBegin);
        gradColumns.narrow(1, columnBegin, count).addmm_(roundAnchors, weights.narrow(1, columnBegin, count), 1,
                                                         1.0 / tau);
      }
    });
  }
}

namespace {
// Runs body(block, begin, rows, workspace) over the row chunks of every block, blocks in parallel.
template <typename Body>
void forEachBlock(const std::vector<Block>& blocks, Workspaces& workspaces, const Body& body) {
  at::parallel_for(0, static_cast<int64_t>(blocks.size()), 1, [&](int64_t first, int64_t last) {
    at::NoGradGuard noGrad;
    Workspace& workspace = threadWorkspace(workspaces);
    for (int64_t index = first; index < last; index++) {
      const Block& block = blocks[index];
      const int64_t chunk = chunkRows(block.anchorCount, block.columnCount, 1);
      for (int64_t offset = 0; offset < block.anchorCount; offset += chunk) {
        body(block, block.anchorBegin + offset, std::min(chunk, block.anchorCount - offset), workspace);
      }
    }
  });
}

at::Tensor blockSimilarities(const at::Tensor& anchors, const at::Tensor& columns, const Block& block, int64_t begin,
                             int64_t rows, double tau, Workspace& workspace) {
  at::Tensor s = workspace.get(kSimilaritySlot, {rows, block.columnCount}, columns.options());
  s.addmm_(anchors.narrow(1, begin, rows).t(), columns.narrow(1, block.columnBegin, block.columnCount), 0, 1.0 / tau);
  return s;
}
}  // namespace

void forEachBlockChunk(const at::Tensor& anchors, const at::Tensor& columns, const std::vector<Block>& blocks,
                       double tau, Workspaces& workspaces, const ChunkVisitor& visit) {
  checkPair(anchors, columns);
  forEachBlock(blocks, workspaces, [&](const Block& block, int64_t begin, int64_t rows, Workspace& workspace) {
    at::Tensor s = blockSimilarities(anchors, columns, block, begin, rows, tau, workspace);
    visit(begin, s, workspace);
  });
}

void accumulateBlockGradients(const at::Tensor& anchors, const at::Tensor& columns, const std::vector<Block>& blocks,
                              double tau, Workspaces& workspaces, const ChunkVisitor& coefficients,
                              at::Tensor gradAnchors, at::Tensor gradColumns) {
  checkPair(anchors, columns);
  forEachBlock(blocks, workspaces, [&](const Block& block, int64_t begin, int64_t rows, Workspace& workspace) {
    at::Tensor s = blockSimilarities(anchors, columns, block, begin, rows, tau, workspace);
    coefficients(begin, s, workspace);
    if (gradAnchors.defined()) {
      gradAnchors.narrow(1, begin, rows).addmm_(columns.narrow(1, block.columnBegin, block.columnCount), s.t(), 1,
                                                1.0 / tau);
    }
    if (gradColumns.defined()) {
      gradColumns.narrow(1, block.columnBegin, block.columnCount).addmm_(anchors.narrow(1, begin, rows), s, 1, 1.0 / tau);
    }
  });
}

at::Tensor rowLogSumExpInPlace(at::Tensor& s) {
  at::Tensor maxima = s.amax({1}, true);  // [rows, 1]
  maxima.masked_fill_(maxima.isinf(), 0);  // all -inf rows: exp(-inf - 0) = 0, log(0) = -inf
  s.sub_(maxima).exp_();
  return s.sum({1}).log_().add_(maxima.squeeze(1));
}

Pixels Pixels::select(const at::Tensor& order) const {
  return {image.index_select(0, order), pixel.index_select(0, order)};
}

Pixels validPixels(const at::Tensor& labels, int64_t image, const at::Tensor& ignored, at::Tensor& pixelLabels) {
  at::Tensor row = labels.select(0, image);
  at::Tensor keep = at::isin(row, ignored).logical_not_();
  at::Tensor pixel = keep.nonzero().squeeze(1);
  pixelLabels = row.index_select(0, pixel);
  return {at::full({pixel.size(0)}, image, pixel.options()), pixel};
}

Pixels concatPixels(const std::vector<Pixels>& parts) {
  std::vector<at::Tensor> images, pixels;
  for (const Pixels& part : parts) {
    images.push_back(part.image);
    pixels.push_back(part.pixel);
  }
  if (parts.empty()) return {at::empty({0}, at::kLong), at::empty({0}, at::kLong)};
  return {at::cat(images), at::cat(pixels)};
}

static c10::List<c10::optional<at::Tensor>> pixelIndex(const Pixels& pixels) {
  c10::List<c10::optional<at::Tensor>> index;
  index.push_back(c10::nullopt);
  index.push_back(pixels.image);
  index.push_back(pixels.pixel);
  return index;
}

at::Tensor gatherPixels(const at::Tensor& features, const Pixels& pixels) {
  if (pixels.count() == 0) return at::empty({features.size(1), 0}, features.options());
  // [B, D, P] -> [D, B, P] (a view) indexed by (image, pixel) pairs -> [D, n]
  return at::index(features.permute({1, 0, 2}), pixelIndex(pixels)).contiguous();
}

void scatterAddPixels(at::Tensor& grad, const Pixels& pixels, const at::Tensor& values) {
  if (pixels.count() == 0) return;
  grad.permute({1, 0, 2}).index_put_(pixelIndex(pixels), values, /*accumulate=*/true);
}

at::Tensor flattenFeatures(const at::Tensor& features, const char* what) {
  if (features.dim() != 4 || (features.scalar_type() != at::kFloat && features.scalar_type() != at::kDouble)) {
    throw std::invalid_argument(std::string(what) + ": expected float32 or float64 features [B, D, H, W]");
  }
  return features.reshape({features.size(0), features.size(1), features.size(2) * features.size(3)});
}

at::Tensor flattenLabels(const at::Tensor& labels, const at::Tensor& features, const char* what) {
  if (labels.dim() != 3 || labels.scalar_type() != at::kLong || labels.size(0) != features.size(0) ||
      labels.size(1) != features.size(2) || labels.size(2) != features.size(3)) {
    throw std::invalid_argument(std::string(what) + ": expected int64 labels [B, H, W] matching features [B, D, H, W]");
  }
  return labels.reshape({labels.size(0), labels.size(1) * labels.size(2)});
}

}  // namespace cs::contrastive

namespace cs {

// setContrastiveChunkRows(rows): test hook; rows > 0 forces that many anchors per chunk, 0 restores the
// automatic size.
CS_ENTRY(setContrastiveChunkRows) {
  contrastive::forcedChunkRows.store(std::max<int64_t>(0, toInt(info[0], "rows")));
  return info.Env().Undefined();
}

void registerContrastiveKernel(Napi::Env env, Napi::Object exports) { CS_EXPORT(env, exports, setContrastiveChunkRows); }

}  // namespace cs
