// Shared machinery of the pixel-contrastive loss kernels (contrastive_supervised.cc, contrastive_official.cc).
//
// Features are handled as matrices with one pixel per column ([D, n], the layout of an NCHW image), so
// that a similarity block s = A^T G / tau between anchors A [D, N] and contrast pixels G [D, M] is one
// matmul. No pass ever holds more than `chunk x M` similarities per intra-op thread: anchors are visited
// in row chunks, each chunk holding whole rows, so row statistics (max, log-sum-exp) are exact per chunk.
// The backward passes recompute the chunk similarities from the features instead of storing them.
//
// Memory bound of a call, with T intra-op threads and chunk x M ~ 2^21 similarities (8 MiB float32):
//   O((N + M) D)        gathered features and their gradients, shared by all threads
// + O(T chunk M)        per thread: the similarity block and the visitors' masks / scratch of that size
// and nothing of size D x M per thread: column gradients are accumulated in parallel over column blocks
// (accumulateChunkGradients), not in per-thread copies.
#pragma once
#include <ATen/ATen.h>
#include <functional>
#include <vector>

namespace cs::contrastive {

// Per-thread scratch tensors reused from chunk to chunk: a fresh multi-MiB allocation is returned to
// the OS when freed, and touching it again costs page faults that outweigh the arithmetic.
class Workspace {
 public:
  // The tensor in `slot`, resized to `sizes` (its storage is kept when it is large enough).
  at::Tensor get(size_t slot, at::IntArrayRef sizes, const at::TensorOptions& options);

 private:
  std::vector<at::Tensor> slots_;
};

// Slots used by the passes themselves; visitors use slots from kFirstFreeSlot on.
constexpr size_t kSimilaritySlot = 0;
constexpr size_t kFirstFreeSlot = 1;

// One workspace per intra-op thread (at::get_num_threads() when made). Reuse one set across the passes of
// a call; a thread index past the set is an error (TORCH_CHECK), never clamped onto another's workspace.
using Workspaces = std::vector<Workspace>;
Workspaces makeWorkspaces();

// visit(begin, s, workspace): s = [rows, M] holds A[:, begin:begin+rows]^T G / tau in a per-thread
// buffer that the visitor may overwrite. Visitors run on several threads at once: they must write only
// rows begin..begin+rows of shared outputs.
using ChunkVisitor = std::function<void(int64_t begin, at::Tensor& s, Workspace& workspace)>;

// Visits every row chunk of s = A^T G / tau for A [D, N], G [D, M] (same dtype, M > 0).
void forEachRowChunk(const at::Tensor& anchors, const at::Tensor& columns, double tau, Workspaces& workspaces,
                     const ChunkVisitor& visit);

// Backward pass over the same chunks: `coefficients` must turn s into W = dLoss/ds in place (s is a view
// of a shared round buffer: do not reassign it). Then
//   gradAnchors[:, rows] += G W^T / tau      (dLoss/dA, since s = A^T G / tau)
//   gradColumns          += A[:, rows] W / tau
// gradAnchors / gradColumns are [D, N] / [D, M] (views are fine); an undefined one is skipped.
void accumulateChunkGradients(const at::Tensor& anchors, const at::Tensor& columns, double tau,
                              Workspaces& workspaces, const ChunkVisitor& coefficients, at::Tensor gradAnchors,
                              at::Tensor gradColumns);

// A rectangle of A^T G: anchors [anchorBegin, +anchorCount) against columns [columnBegin, +columnCount).
struct Block {
  int64_t anchorBegin, anchorCount, columnBegin, columnCount;
};

// forEachRowChunk over many small blocks that are disjoint in rows and in columns (the same-class blocks
// of the cross-image loss): blocks run in parallel, each visiting its rows in chunks on one thread, so
// one parallel region serves them all. `begin` is the absolute row in A; s holds the block's columns.
void forEachBlockChunk(const at::Tensor& anchors, const at::Tensor& columns, const std::vector<Block>& blocks,
                       double tau, Workspaces& workspaces, const ChunkVisitor& visit);
// accumulateChunkGradients over such blocks; gradients go to the blocks' rows and columns directly.
void accumulateBlockGradients(const at::Tensor& anchors, const at::Tensor& columns, const std::vector<Block>& blocks,
                              double tau, Workspaces& workspaces, const ChunkVisitor& coefficients,
                              at::Tensor gradAnchors, at::Tensor gradColumns);

// log(sum_k exp(s[r, k])) per row, computed stably; overwrites s. Rows that are all -inf give -inf.
at::Tensor rowLogSumExpInPlace(at::Tensor& s);

// A set of pixels of a feature tensor [B, D, P]: column j is pixel `pixel[j]` of image `image[j]`.
struct Pixels {
  at::Tensor image;  // int64 [n]
  at::Tensor pixel;  // int64 [n]
  int64_t count() const { return pixel.defined() ? pixel.size(0) : 0; }
  Pixels select(const at::Tensor& order) const;  // the pixels at positions `order`, in that order
};

// The valid pixels (label not in `ignored`) of image `image` of labels [B, P], with their labels.
Pixels validPixels(const at::Tensor& labels, int64_t image, const at::Tensor& ignored, at::Tensor& pixelLabels);
Pixels concatPixels(const std::vector<Pixels>& parts);

// features [B, D, P] -> [D, n]: the feature vectors of `pixels`, one per column.
at::Tensor gatherPixels(const at::Tensor& features, const Pixels& pixels);
// grad [B, D, P] += values [D, n] scattered to `pixels` (repeated pixels accumulate).
void scatterAddPixels(at::Tensor& grad, const Pixels& pixels, const at::Tensor& values);

// features [B, D, H, W] -> [B, D, H*W] (a view when contiguous). Checks dtype float32/float64.
at::Tensor flattenFeatures(const at::Tensor& features, const char* what);
// labels [B, H, W] int64 matching features [B, D, H, W] -> [B, H*W].
at::Tensor flattenLabels(const at::Tensor& labels, const at::Tensor& features, const char* what);

}  // namespace cs::contrastive
