"""PyTorch side of bench/deeplab-step.ts: ResNet-18 DeepLabV3+ (OS 8) + classifier with the module tree of
scripts/fixtures/models.py (the oracle of src/models), cross-entropy (ignore 255), SGD momentum 0.9.

Args: threads batch size classes. Steps on command so the two sides interleave under the same load: reads
'train' or 'infer' lines from stdin and answers each with one JSON line {"ms": ...}; 'quit' prints
{"rss_mb": ...} and exits.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from models import Classifier, DeepLabV3Plus  # noqa: E402


def main():
    threads, batch, size, classes = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net, head = DeepLabV3Plus('resnet18', 8), Classifier(256, classes)
    opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, classes, (batch, size, size))

    def logits():
        return F.interpolate(head(net(x)), size=(size, size), mode='bilinear', align_corners=False)

    def train_step():
        net.train(), head.train()
        loss = F.cross_entropy(logits(), y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer_step():
        net.eval(), head.eval()
        with torch.no_grad():
            logits()

    print(json.dumps({'ready': True, 'threads': torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == 'quit':
            break
        t0 = time.perf_counter()
        {'train': train_step, 'infer': infer_step}[command]()
        print(json.dumps({'ms': (time.perf_counter() - t0) * 1000}), flush=True)
    print(json.dumps({'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


if __name__ == '__main__':
    main()
