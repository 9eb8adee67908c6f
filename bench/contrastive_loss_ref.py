"""Dense PyTorch reference for `npm run bench -- contrastive-loss` (bench/contrastive-loss.ts runs it).

The within-image / cross-image losses of issue 3 in the formulation of the released code
(google-research supervised_pixel_contrastive_loss): a full N x M logits matrix, float masks of the
same size, exp * mask, row sums, log, mask-weighted means. Images are processed one at a time (forward
and backward per image, gradients accumulated), the most memory-frugal way to run this formulation;
the released code batches them ([B, N, N]), which needs B times more.

Usage: contrastive_loss_ref.py SIZE LOSS WARMUP REPS   (LOSS: within | cross)
Prints one JSON line: ms (median of REPS forward+backward passes), mb (peak RSS over the baseline
after setup), value (the loss).
"""
import json
import sys
import time

import numpy as np
import torch

BATCH, CHANNELS, CLASSES, IGNORE, TAU = 2, 256, 19, 255, 0.07


def hash32(values):
    """The murmur3 finaliser on uint32 (bench/contrastive-loss.ts computes the same numbers)."""
    h = values.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def make_features(size, salt):
    index = np.arange(BATCH * CHANNELS * size * size, dtype=np.uint64) + np.uint64(salt) * np.uint64(1 << 28)
    values = (hash32(index).astype(np.float64) / 4294967296.0 - 0.5).astype(np.float32)
    features = torch.from_numpy(values).reshape(BATCH, CHANNELS, size, size)
    return torch.nn.functional.normalize(features, dim=1)


def make_labels(size, salt):
    b, y, x = np.meshgrid(np.arange(BATCH), np.arange(size), np.arange(size), indexing='ij')
    block = (b * 4096 + (y // 8) * 64 + x // 8).astype(np.uint64)
    classes = hash32(block + np.uint64(77)) % np.uint32(CLASSES)
    pixel = ((b * size + y) * size + x).astype(np.uint64) + np.uint64(salt) * np.uint64(1 << 24)
    ignored = hash32(pixel) % np.uint32(16) == 0
    return torch.from_numpy(np.where(ignored, IGNORE, classes).astype(np.int64))


def rows(features, labels, b):
    return features[b].reshape(CHANNELS, -1).T, labels[b].reshape(-1)


def dense_image_loss(f, la, g, lc, extra, le):
    """Mean l(p) over the kept anchors of one image (official-code style), and whether any was kept."""
    m = g.shape[0]
    columns = g if extra is None else torch.cat([g, extra])
    column_labels = lc if extra is None else torch.cat([lc, le])
    logits = f @ columns.T / TAU
    valid = ((la != IGNORE)[:, None] & (column_labels != IGNORE)[None, :]).float()
    positive_mask = (la[:, None] == column_labels[None, :]).float() * valid
    denominator_mask = valid if extra is None else torch.cat([valid[:, :m], positive_mask[:, m:]], 1)
    exp_logits = torch.exp(logits) * denominator_mask
    del valid
    denominator = exp_logits.sum(1, keepdim=True)
    del exp_logits
    log_prob = logits - torch.log(denominator + (denominator == 0).float())
    del logits
    positives = positive_mask.sum(1)
    mean_log_prob = (positive_mask * log_prob).sum(1) / positives.clamp(min=1)
    kept = (positives > 0).float()
    return -(mean_log_prob * kept).sum() / kept.sum().clamp(min=1), bool(kept.sum() > 0)


def has_kept_anchor(la, lc, le):
    valid = la[la != IGNORE]
    contrast = lc[lc != IGNORE] if le is None else torch.cat([lc[lc != IGNORE], le[le != IGNORE]])
    return bool(torch.isin(valid, contrast).any())


def step(loss, features, labels, distorted, distorted_labels):
    """Forward + backward of the whole loss, image by image."""
    partner = [(b + 1) % BATCH for b in range(BATCH)]
    parts = []
    for b in range(BATCH):
        f, la = rows(features, labels, b)
        g, lc = rows(distorted, distorted_labels, b)
        extra, le = rows(distorted, distorted_labels, partner[b]) if loss == 'cross' else (None, None)
        parts.append((f, la, g, lc, extra, le))
    images = sum(has_kept_anchor(p[1], p[3], p[5]) for p in parts)
    total = 0.0
    for part in parts:
        image_loss, kept = dense_image_loss(*part)
        if kept:
            (image_loss / images).backward()
            total += image_loss.item() / images
        del image_loss
    return total


def memory_kb(field):
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(field + ' not in /proc/self/status')


def main():
    size, loss, warmup, reps = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(2)
    features = make_features(size, 1).requires_grad_(True)
    distorted = make_features(size, 2).requires_grad_(True)
    labels, distorted_labels = make_labels(size, 1), make_labels(size, 2)
    baseline = memory_kb('VmRSS')
    with open('/proc/self/clear_refs', 'w') as clear:
        clear.write('5')  # resets VmHWM to the current RSS
    times, value = [], 0.0
    for rep in range(warmup + reps):
        features.grad = distorted.grad = None
        start = time.perf_counter()
        value = step(loss, features, labels, distorted, distorted_labels)
        if rep >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({'ms': float(np.median(times)), 'mb': (memory_kb('VmHWM') - baseline) / 1024, 'value': value}))


if __name__ == '__main__':
    main()
