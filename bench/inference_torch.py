"""PyTorch side of bench/inference.ts: the DeepLabV3+ twin of scripts/fixtures/reference_models.py (the oracle of
src/models) with the very weights the Node side exported to ONNX, eval mode, batch 1, under torch.inference_mode().

Args: threads kind output_stride width classes weights.safetensors input.f32 logits.f32 height width_px.
The input file holds the float32 [1, 3, H, W] image both sides run on. Step server protocol of bench/lib/paired.ts:
'infer' runs one timed forward pass (logits resized to the input, as the exported graph does); 'check' writes
that pass's logits [1, C, H, W] as raw float32 to logits.f32 so the Node side can confirm the weights are the same.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

from step_server import serve  # bench/, the folder of this script, is on sys.path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from reference_models import Classifier, DeepLabV3Plus  # noqa: E402

# safetensors dtype names -> numpy (Debian has no python3-safetensors; the format is an 8-byte header length,
# a JSON header of {name: {dtype, shape, data_offsets}}, then the raw little-endian data)
DTYPES = {'F32': np.float32, 'I64': np.int64}


def read_safetensors(path):
    with open(path, 'rb') as handle:
        data = handle.read()
    (header_length,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + header_length])
    base = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        start, end = entry['data_offsets']
        values = np.frombuffer(data[base + start:base + end], dtype=DTYPES[entry['dtype']]).reshape(entry['shape'])
        tensors[name] = torch.from_numpy(values.copy())
    return tensors


def load_twin(kind, output_stride, width, classes, weights):
    """network.* -> the DeepLabV3+ twin, head.* -> its classifier; strict, so a missing or extra key stops the bench."""
    # width 1 only: the twin keeps ASPP and decoder at 256 channels, src/models scales them with the width
    assert width == 1, f'width {width}: the PyTorch twin is built at width 1 only'
    net, head = DeepLabV3Plus(kind, output_stride, width), Classifier(256, classes)
    state = read_safetensors(weights)
    net.load_state_dict({k[len('network.'):]: v for k, v in state.items() if k.startswith('network.')}, strict=True)
    head.load_state_dict({k[len('head.'):]: v for k, v in state.items() if k.startswith('head.')}, strict=True)
    return net.eval(), head.eval()


def main():
    threads, kind, output_stride, width, classes, weights, input_file, logits_file, height, width_px = sys.argv[1:11]
    torch.set_num_threads(int(threads))
    assert torch.get_num_threads() == int(threads), f'PyTorch runs {torch.get_num_threads()} threads, asked for {threads}'
    net, head = load_twin(kind, int(output_stride), float(width), int(classes), weights)
    size = (int(height), int(width_px))
    images = torch.from_numpy(np.fromfile(input_file, dtype=np.float32).reshape(1, 3, *size))  # [1, 3, H, W]

    def logits():
        with torch.inference_mode():
            return F.interpolate(head(net(images)), size=size, mode='bilinear', align_corners=False)  # [1, C, H, W]

    def check():
        logits().numpy().astype(np.float32).tofile(logits_file)

    serve({'infer': logits, 'check': check})


if __name__ == '__main__':
    main()
