"""Time to encode one image with the degradation encoder on this machine's CPU.

    python benchmarks/bench_encoder.py [--weights offline] [--sizes 256 512 1024] [--threads 2] [--repeats 10]

Prints, per input size, the median wall time of `encode_image` (backbone + image adapter,
what the restorer calls once per photo) and of `classify`, after a warm-up call. Loading
time (backbone weights, adapters) is printed apart.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.encoder import DegradationEncoder  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="offline", help="registered encoder name or adapter file")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square input sides")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    encoder = DegradationEncoder.from_pretrained(args.weights)
    print(f"load {args.weights}: {time.perf_counter() - start:.2f} s ({torch.get_num_threads()} threads)")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for size in args.sizes:
            image = torch.rand(1, 3, size, size, generator=generator)
            enc = median_time(lambda: encoder.encode_image(image), args.repeats)
            cls = median_time(lambda: encoder.classify(image), args.repeats)
            print(f"{size}x{size}: encode_image {enc * 1000:.1f} ms, classify {cls * 1000:.1f} ms (median of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
