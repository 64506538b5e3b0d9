"""Where a forward's time goes, by operator and by size: one profiled forward per size (the
second call, freed memory kept, as the studio runs), and each operator's growth between sizes.

    python benchmarks/profile_network.py --model vlunet-paper --sizes 256 512 [--threads 2] [--top 15] [--bf16]

Operators that grow faster than the pixel count explain why a large input costs more per pixel.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core  # noqa: E402


def profile_forward(net, side: int, bf16: bool = False) -> tuple[float, dict[str, float]]:
    """Seconds of one forward at ``side`` x ``side`` (after a warm-up of the same size) and the
    self CPU seconds of each operator in a profiled repeat (``bf16``: under
    :func:`core.network.bfloat16_inference`)."""
    from torch.profiler import ProfilerActivity, profile

    from core.network import bfloat16_inference
    x, d = torch.rand(1, 3, side, side), torch.randn(1, 512)
    with torch.inference_mode(), bfloat16_inference(bf16):
        net(x, d)
        start = time.perf_counter()
        net(x, d)
        seconds = time.perf_counter() - start
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            net(x, d)
    return seconds, {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vlunet-paper")
    parser.add_argument("--sizes", nargs=2, type=int, default=[256, 512], metavar=("SMALL", "LARGE"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--bf16", action="store_true", help="profile the opt-in bfloat16 path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    core.keep_freed_memory()
    torch.manual_seed(0)
    net = core.create_model(args.model).eval()
    (small_s, small), (large_s, large) = (profile_forward(net, side, args.bf16) for side in args.sizes)
    pixels = (args.sizes[1] / args.sizes[0]) ** 2
    print(f"# {args.model}{' bfloat16' if args.bf16 else ''}, {args.threads} threads: {args.sizes[0]}² {small_s:.2f} s, {args.sizes[1]}² {large_s:.2f} s "
          f"({large_s / small_s:.2f}x for {pixels:.0f}x the pixels)")
    print(f"| operator | {args.sizes[0]}² s | {args.sizes[1]}² s | growth (pixels: {pixels:.0f}x) |")
    print("|---|---|---|---|")
    for key in sorted(large, key=large.get, reverse=True)[:args.top]:
        before = small.get(key, 0.0)
        growth = f"{large[key] / before:.2f}x" if before else "new"
        print(f"| {key} | {before:.3f} | {large[key]:.3f} | {growth} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
