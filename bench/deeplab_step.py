"""PyTorch side of bench/deeplab-step.ts: ResNet-18 DeepLabV3+ (OS 8) + classifier with the module tree of
scripts/fixtures/reference_models.py (the oracle of src/models), cross-entropy (ignore 255), SGD momentum 0.9.

Args: threads batch size classes. Steps on command so the two sides interleave under the same load: reads
'train' or 'infer' lines from stdin and answers each with one JSON line {"ms": ...}; 'quit' prints
{"rss_mb": ...} and exits.
"""
import os
import sys

import torch
import torch.nn.functional as F

from step_server import serve  # bench/, the folder of this script, is on sys.path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from reference_models import Classifier, DeepLabV3Plus  # noqa: E402


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

    serve({'train': train_step, 'infer': infer_step})

if __name__ == '__main__':
    main()
