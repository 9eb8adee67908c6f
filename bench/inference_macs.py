"""Multiply-accumulates of every convolution of the DeepLabV3+ twin (scripts/fixtures/reference_models.py) on one
image: argv kind output_stride width height width_px. Prints one JSON object {module name: MACs}, the names as
contraseg's ONNX export names the nodes (prefixed `network.`). For bench/inference-profile.ts."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from reference_models import DeepLabV3Plus  # noqa: E402


def main():
    kind, output_stride, width, height, width_px = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(1)
    net = DeepLabV3Plus(kind, output_stride, width).eval()
    macs = {}

    def hook(name):
        def count(module, _inputs, output):
            taps = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs['network.' + name] = output.numel() * taps  # one MAC per output element and tap
        return count

    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(hook(name))
    with torch.no_grad():
        net(torch.zeros(1, 3, height, width_px))
    print(json.dumps(macs))


if __name__ == '__main__':
    main()
