"""PyTorch side of the pipeline benchmark (issue 9): the two training stages of contraseg, data loading
included, written the way a PyTorch user would (torch DataLoader with worker processes, torchvision
transforms). bench/pipeline.ts will run contraseg's side; this script is self-contained.

Data: CamVid 180x240 train split (train.txt; JPEG images, PNG labels, void 11 -> 255), restricted with
--labelled-ids to the images contraseg trained on (its run's split.txt: 20 with camvid-quick), drawn by one
RandomSampler over the whole stage (permutation after permutation, as iteration-based training does; a
DataLoader iterator per epoch would restart its prefetch at every epoch, i.e. every 2 steps at 20 images
and batch 8), per image a random
scale in [0.5, 2] (image bilinear, PIL's, which also antialiases; mask nearest), a 128x128 crop (a smaller
scaled image sits at a random offset, padded with the ImageNet mean colour / 255), a horizontal flip with p 0.5, ImageNet normalisation.
Model: DeepLabV3+ with a ResNet-18 backbone at width 0.5, output stride 16, ASPP and decoder 128 channels,
reduction 24 (contraseg's defaults: 256 and 48 scaled by the width), scripts/fixtures/reference_models.py.
SGD momentum 0.9, lr 0.01, weight decay 1e-4 on convolution weights only (contraseg's parameter groups),
batch 8, 2 torch threads in the training process (loader workers: 1 each, PyTorch's default).

Bookkeeping, as contraseg does it per step (bench/pipeline.ts runs contraseg with logEvery 1 and
checkpointEvery 10): the learning rate from a poly schedule (power 0.9, contraseg's default; pretraining with
10 warm-up steps at lr 0.05, fine-tuning at 0.01, camvid-quick's values), one JSON line appended to
metrics.jsonl, and every 10 steps a checkpoint (network, head, optimiser state, step, RNG state, loader
position) written durably: temp file, fsync, rename, fsync of the directory. contraseg also checksums its
checkpoint (SHA-256) and writes two small JSON files beside it; that is its own cost, not mirrored here.

Stages (a step = waiting for the next batch + forward + backward + optimiser step + the bookkeeping):
- pretrain: a second view Î of each crop (same geometry) with ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8,
  RandomGrayscale p 0.2, GaussianBlur (13 taps: 10% of the crop side, odd; sigma 0.1-2) p 0.5; I and Î in
  ONE forward, projection head (3 x 1x1 conv, width 256, ReLU between, L2 normalisation), within-image
  supervised contrastive loss at stride 4 (labels downsampled by nearest), temperature 0.07, computed
  densely image by image (dense_image_loss of bench/contrastive_loss_ref.py).
- finetune: one view, 1x1 conv classifier (11 classes), logits upsampled bilinear to the input size,
  cross-entropy ignoring 255; the network carries over from pretraining, the optimiser is new.

Prints per stage the median seconds per step over --steps steps after --warmup steps (and the median wait
for a batch); the last line is one JSON object.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')  # as the other benchmarks: BLAS threads would oversubscribe 2 cores

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision.transforms as T  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402
from PIL import Image  # noqa: E402
from torch.nn import functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts', 'fixtures'))
from contrastive_loss_ref import dense_image_loss  # noqa: E402  (bench/, the folder of this script, is on sys.path)
from reference_models import Classifier, DeepLabV3Plus, ProjectionHead  # noqa: E402

DATA = '/work/shared/data/camvid_180x240'
CLASSES = 11  # CamVid's SegNet classes 0-10; 11 is void
VOID, IGNORE = 11, 255
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MEAN_COLOUR = tuple(round(m * 255) for m in IMAGENET_MEAN)  # padding that normalises to 0
SCALE = (0.5, 2.0)
TEMPERATURE = 0.07  # Zhao et al. 2021; dense_image_loss uses the same constant
LOSS_STRIDE = 4  # the decoder's output stride: the loss sees its map directly


def parse_args():
    parser = argparse.ArgumentParser(description='PyTorch side of the pipeline benchmark: pretrain and finetune steps on CamVid.')
    parser.add_argument('--steps', type=int, default=20, help='timed steps per stage')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps per stage first')
    parser.add_argument('--workers', type=int, default=1, help='DataLoader worker processes')
    parser.add_argument('--stages', default='pretrain,finetune', help='comma-separated: pretrain, finetune')
    parser.add_argument('--threads', type=int, default=2, help='torch threads of the training process')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--crop', type=int, default=128)
    parser.add_argument('--data', default=DATA, help='CamVid root holding train.txt')
    parser.add_argument('--labelled-ids', default=None, help='file of image ids (one per line) to train on; default: all of train.txt')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='folder for metrics.jsonl and checkpoints (default: a temporary folder, removed)')
    parser.add_argument('--checkpoint-every', type=int, default=10)
    parser.add_argument('--bare', action='store_true',
                        help='the bare step: one fixed random batch, no DataLoader, no metrics line, no checkpoints')
    parser.add_argument('--profile-loader', type=int, default=0, metavar='N',
                        help='only measure the CPU time of building N batches in this process (no training), then exit')
    args = parser.parse_args()
    stages = args.stages.split(',')
    unknown = [s for s in stages if s not in ('pretrain', 'finetune')]
    if unknown:
        parser.error('unknown stage(s) %s; expected pretrain and/or finetune' % ', '.join(unknown))
    args.stages = stages
    return args


class CamVidCrops(torch.utils.data.Dataset):
    """CamVid pairs from a split file; each item is a randomly scaled, cropped and flipped (image, labels),
    plus the photometrically distorted image when `distort` (the two views share the geometry)."""

    def __init__(self, root, split, crop, distort, ids=None):
        with open(os.path.join(root, split + '.txt')) as listing:
            self.pairs = [line.split() for line in listing if line.strip()]
        if ids is not None:
            self.pairs = [pair for pair in self.pairs if os.path.splitext(os.path.basename(pair[0]))[0] in ids]
            if len(self.pairs) != len(ids):
                raise SystemExit('pipeline_torch.py: %d of the %d labelled ids are in %s.txt' % (len(self.pairs), len(ids), split))
        self.root, self.crop = root, crop
        blur_taps = max(3, int(round(0.1 * crop)) // 2 * 2 + 1)  # SimCLR: 10% of the side, odd
        self.distortion = T.Compose([
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.RandomApply([T.GaussianBlur(blur_taps, sigma=(0.1, 2.0))], p=0.5),
        ]) if distort else None
        self.normalise = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __len__(self):
        return len(self.pairs)

    def _load(self, index):
        image_path, label_path = self.pairs[index]
        image = Image.open(os.path.join(self.root, image_path)).convert('RGB')
        stored = np.array(Image.open(os.path.join(self.root, label_path)))
        return image, Image.fromarray(np.where(stored == VOID, IGNORE, stored).astype(np.uint8))

    def _geometry(self, image, labels):
        factor = float(torch.empty(1).uniform_(*SCALE))
        size = [max(1, round(image.height * factor)), max(1, round(image.width * factor))]
        image = TF.resize(image, size, T.InterpolationMode.BILINEAR)
        labels = TF.resize(labels, size, T.InterpolationMode.NEAREST)
        pad_h, pad_w = max(0, self.crop - size[0]), max(0, self.crop - size[1])
        if pad_h or pad_w:  # both sides, so that the crop places the image at a random offset (RandomCrop's pad_if_needed)
            image = TF.pad(image, [pad_w, pad_h], fill=MEAN_COLOUR)
            labels = TF.pad(labels, [pad_w, pad_h], fill=IGNORE)
        top, left, height, width = T.RandomCrop.get_params(image, (self.crop, self.crop))
        image, labels = TF.crop(image, top, left, height, width), TF.crop(labels, top, left, height, width)
        if torch.rand(1).item() < 0.5:
            image, labels = TF.hflip(image), TF.hflip(labels)
        return image, labels

    def __getitem__(self, index):
        image, labels = self._geometry(*self._load(index))
        label_tensor = torch.from_numpy(np.array(labels, dtype=np.int64))  # [H, W]
        if self.distortion is None:
            return self.normalise(image), label_tensor
        return self.normalise(image), self.normalise(self.distortion(image)), label_tensor


def endless_batches(dataset, args):
    """The stage's batches from one iterator (training is step-based; images repeat, each permutation anew)."""
    sampler = torch.utils.data.RandomSampler(dataset, num_samples=(args.warmup + args.steps) * args.batch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, sampler=sampler, drop_last=True,
                                         num_workers=args.workers, persistent_workers=args.workers > 0)
    while True:
        yield from loader


def fixed_batches(args, distort):
    """--bare: the same random batch at every step (images, [distorted,] labels), as contraseg's bare step."""
    images = torch.randn(args.batch, 3, args.crop, args.crop)
    labels = torch.randint(0, CLASSES, (args.batch, args.crop, args.crop))
    batch = (images, torch.randn(args.batch, 3, args.crop, args.crop), labels) if distort else (images, labels)
    while True:
        yield batch


def stage_batches(dataset, args, distort):
    return fixed_batches(args, distort) if args.bare else endless_batches(dataset(), args)


def no_bookkeeping(index, loss, seconds, since_start):
    pass


def labelled_ids(args):
    if args.labelled_ids is None:
        return None
    with open(args.labelled_ids) as listing:
        return {line.strip() for line in listing if line.strip()}


def sgd(modules):
    """SGD with weight decay on convolution weights only (BatchNorm parameters and biases get none)."""
    params = [p for module in modules for p in module.parameters()]
    decay = [p for p in params if p.dim() == 4]
    rest = [p for p in params if p.dim() != 4]
    groups = [{'params': decay, 'weight_decay': 1e-4}, {'params': rest, 'weight_decay': 0.0}]
    return torch.optim.SGD(groups, lr=0.01, momentum=0.9)


def within_image_loss(embeddings, labels_down):
    """Within-image contrastive loss: anchors = view I's pixels, contrast set = view Î's pixels of the same
    image; mean over the images with at least one kept anchor (as contraseg's withinImageContrastiveLoss).
    embeddings [2B, D, h, w] unit norm (I then Î); labels_down [B, h, w]."""
    batch = labels_down.shape[0]
    losses = []
    for b in range(batch):
        anchors = embeddings[b].flatten(1).T  # [N, D]
        contrast = embeddings[batch + b].flatten(1).T  # [N, D]
        labels = labels_down[b].flatten()  # [N]
        loss, kept = dense_image_loss(anchors, labels, contrast, labels, None, None)
        if kept:
            losses.append(loss)
    return torch.stack(losses).mean() if losses else embeddings.sum() * 0


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group['lr'] = lr


def pretrain_step(network, head, optimizer, batch):
    images, distorted, labels = batch
    features = network(torch.cat([images, distorted]))  # [2B, C, H/4, W/4]: one forward, BatchNorm sees both views
    embeddings = head(features)  # [2B, 256, H/4, W/4]
    labels_down = F.interpolate(labels[:, None].float(), size=embeddings.shape[-2:], mode='nearest')[:, 0].long()  # [B, h, w]
    loss = within_image_loss(embeddings, labels_down)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def finetune_step(network, classifier, optimizer, batch):
    images, labels = batch
    logits = F.interpolate(classifier(network(images)), size=images.shape[-2:], mode='bilinear', align_corners=False)
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def poly_lr(base, step, steps, warmup):
    """contraseg's schedule: linear warm-up, then poly decay with power 0.9 (TF DeepLab's default)."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (1 - (step - warmup) / max(1, steps - warmup)) ** 0.9


def write_durable(path, write):
    """temp file + fsync + rename + fsync of the directory, as contraseg writes its checkpoints."""
    temp = os.path.join(os.path.dirname(path), '.' + os.path.basename(path) + '.tmp')
    with open(temp, 'wb') as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    directory = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def save_checkpoint(out, name, modules, optimizer, step):
    state = {'modules': [module.state_dict() for module in modules], 'optimizer': optimizer.state_dict(), 'step': step,
             'rng': torch.get_rng_state(), 'loader_position': step}
    write_durable(os.path.join(out, '%s.pt' % name), lambda handle: torch.save(state, handle))


def run_stage(name, step, batches, args, bookkeeping):
    """Runs warm-up + timed steps; returns the figures of the stage. A step's time runs from asking for its
    batch to the end of its bookkeeping (metrics line, checkpoint when due), as contraseg's metrics.jsonl
    times do (the checkpoint after step k lands in step k + 1's interval there; the mean is the same)."""
    step_s, wait_s, losses = [], [], []
    stage_start = time.perf_counter()
    for index in range(args.warmup + args.steps):
        start = time.perf_counter()
        batch = next(batches)
        fetched = time.perf_counter()
        losses.append(step(index, batch))
        bookkeeping(index, losses[-1], time.perf_counter() - start, time.perf_counter() - stage_start)
        if index >= args.warmup:
            step_s.append(time.perf_counter() - start)
            wait_s.append(fetched - start)
    figures = {'step_s': round(statistics.median(step_s), 4), 'mean_step_s': round(statistics.mean(step_s), 4),
               'wait_s': round(statistics.median(wait_s), 4),
               'images_per_s': round(args.batch / statistics.mean(step_s), 2), 'last_loss': round(losses[-1], 5)}
    print('%s: median %.4f s, mean %.4f s per step over %d steps after %d warm-up (waiting for data %.4f s), '
          '%.1f images/s, last loss %.4f' % (name, figures['step_s'], figures['mean_step_s'], args.steps, args.warmup,
                                             figures['wait_s'], figures['images_per_s'], figures['last_loss']), flush=True)
    return figures


def stage_bookkeeping(stage, out, metrics, modules, optimizer, args):
    """The per-step metrics line and the checkpoint every --checkpoint-every steps."""
    def after_step(index, loss, seconds, since_start):
        step = index + 1
        record = {'kind': 'step', 'stage': stage, 'step': step, 'steps': args.warmup + args.steps, 'loss': loss,
                  'lr': optimizer.param_groups[0]['lr'], 'imagesPerSecond': args.batch / seconds, 'seconds': since_start}
        metrics.write(json.dumps(record) + '\n')
        metrics.flush()
        if step % args.checkpoint_every == 0:
            save_checkpoint(out, stage, modules, optimizer, step)
        if step % 10 == 0:
            print('[torch] %s %d/%d loss %.4f' % (stage, step, args.warmup + args.steps, loss), file=sys.stderr, flush=True)
    return after_step


def profile_loader(args):
    """CPU seconds of building one batch (8 items + collate) in this process, per view kind."""
    result = {'bench': 'pipeline-torch-loader', 'batches': args.profile_loader}
    for kind, distort in (('single', False), ('pair', True)):
        dataset = CamVidCrops(args.data, 'train', args.crop, distort=distort)
        cpu = []
        for b in range(args.profile_loader + 2):
            start = time.process_time()
            torch.utils.data.default_collate([dataset[(b * args.batch + i) % len(dataset)] for i in range(args.batch)])
            if b >= 2:
                cpu.append(time.process_time() - start)
        result[kind] = {'cpu_ms_per_batch': round(1000 * statistics.mean(cpu), 2)}
    print(json.dumps(result))


def main():
    args = parse_args()
    if args.profile_loader > 0:
        torch.set_num_threads(1)  # as in a DataLoader worker
        profile_loader(args)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = args.out or tempfile.mkdtemp(prefix='pipeline-torch-')
    try:
        run_stages(args, out)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


def run_stages(args, out):
    total = args.warmup + args.steps
    network = DeepLabV3Plus('resnet18', 16, width=0.5, aspp=128, reduction=24, decoder=128)
    result = {'bench': 'pipeline-torch', 'torch': torch.__version__, 'threads': args.threads, 'workers': args.workers,
              'batch': args.batch, 'crop': args.crop, 'steps': args.steps, 'warmup': args.warmup}
    if 'pretrain' in args.stages:
        head = ProjectionHead(128, layers=3, width=256)
        optimizer = sgd([network, head])
        network.train(), head.train()
        batches = stage_batches(lambda: CamVidCrops(args.data, 'train', args.crop, distort=True, ids=labelled_ids(args)), args, True)
        def step(index, batch):
            set_lr(optimizer, poly_lr(0.05, index, total, 10))
            return pretrain_step(network, head, optimizer, batch)
        with open(os.path.join(out, 'metrics.jsonl'), 'a') as metrics:
            bookkeeping = no_bookkeeping if args.bare else stage_bookkeeping('pretrain', out, metrics, [network, head], optimizer, args)
            result['pretrain'] = run_stage('pretrain', step, batches, args, bookkeeping)
        save_checkpoint(out, 'pretrain', [network, head], optimizer, total)  # the stage's last checkpoint (untimed, as contraseg's)
        batches.close()  # stops its workers before the next stage starts its own
    if 'finetune' in args.stages:
        classifier = Classifier(128, CLASSES)
        optimizer = sgd([network, classifier])
        network.train(), classifier.train()
        batches = stage_batches(lambda: CamVidCrops(args.data, 'train', args.crop, distort=False, ids=labelled_ids(args)), args, False)
        def step(index, batch):
            set_lr(optimizer, poly_lr(0.01, index, total, 0))
            return finetune_step(network, classifier, optimizer, batch)
        with open(os.path.join(out, 'metrics.jsonl'), 'a') as metrics:
            bookkeeping = no_bookkeeping if args.bare else stage_bookkeeping('finetune', out, metrics, [network, classifier], optimizer, args)
            result['finetune'] = run_stage('finetune', step, batches, args, bookkeeping)
        save_checkpoint(out, 'finetune', [network, classifier], optimizer, total)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
