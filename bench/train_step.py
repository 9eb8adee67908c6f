"""PyTorch side of bench/train-step.ts: the engine benchmark network (see bench/lib/train-step-net.ts), same
data sizes and step, PyTorch on its defaults. Args: threads batch size. Step server protocol of
bench/lib/paired.ts: 'train' / 'infer' lines answered with {"ms": ...}; 'quit' answers {"rss_mb": ...}."""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from step_server import serve  # bench/, the folder of this script, is on sys.path

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
    threads, batch, size = (int(a) for a in sys.argv[1:4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, CLASSES, (batch, size, size))

    def train_step():
        net.train()
        out = F.interpolate(net(x), size=(size, size), mode='bilinear', align_corners=False)
        loss = F.cross_entropy(out, y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer_step():
        net.eval()
        with torch.no_grad():
            F.interpolate(net(x), size=(size, size), mode='bilinear', align_corners=False)

    serve({'train': train_step, 'infer': infer_step})

if __name__ == '__main__':
    main()
