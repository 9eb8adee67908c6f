"""The PyTorch side's step server for bench/lib/paired.ts: prints {"ready": true, "threads": n}, then answers
each stdin line naming a step ('train', 'infer') with {"ms": ...}; 'quit' answers {"rss_mb": ...} (peak RSS)."""
import json
import resource
import sys
import time

import torch


def serve(steps):
    """Runs the protocol over `steps`, a dict from command name to a no-argument step function."""
    print(json.dumps({'ready': True, 'threads': torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == 'quit':
            break
        t0 = time.perf_counter()
        steps[command]()
        print(json.dumps({'ms': (time.perf_counter() - t0) * 1000}), flush=True)
    print(json.dumps({'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
