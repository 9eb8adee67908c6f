"""PyTorch side of bench/train-step.ts: the same network, data sizes and step. Prints one JSON line."""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = 12


def conv_bn_relu(cin, cout, k, s):
    return [nn.Conv2d(cin, cout, k, stride=s, padding=(k - 1) // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def build():
    layers = conv_bn_relu(3, 32, 3, 2)
    for cin, cout, s in [(32, 32, 1), (32, 64, 2), (64, 128, 2), (128, 256, 1)]:
        layers += conv_bn_relu(cin, cout, 3, s) + conv_bn_relu(cout, cout, 3, 1)
    layers += conv_bn_relu(256, 256, 1, 1) + [nn.Conv2d(256, CLASSES, 1)]
    return nn.Sequential(*layers)


def main():
    threads, steps, warmup, batch, size = (int(a) for a in sys.argv[1:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, CLASSES, (batch, size, size))
    train = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        out = F.interpolate(net(x), size=(size, size), mode='bilinear', align_corners=False)
        loss = F.cross_entropy(out, y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            train.append((time.perf_counter() - t0) * 1000)
    net.eval()
    infer = []
    with torch.no_grad():
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            F.interpolate(net(x), size=(size, size), mode='bilinear', align_corners=False)
            if i >= warmup:
                infer.append((time.perf_counter() - t0) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({'train_ms': statistics.median(train), 'infer_ms': statistics.median(infer), 'rss_mb': rss_mb,
                      'threads': torch.get_num_threads(), 'openblas_threads': os.environ.get('OPENBLAS_NUM_THREADS')}))


if __name__ == '__main__':
    main()
