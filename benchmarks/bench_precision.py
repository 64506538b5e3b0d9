"""Float32 against the opt-in bfloat16 inference (``core.network.bfloat16_inference``).

    python benchmarks/bench_precision.py                                # both tables
    python benchmarks/bench_precision.py --quality-models vlunet-tiny --speed-sizes 256

Quality: the held-out photo suite of ``training.evaluate`` (the 9 validation photos, two
256-px crops each, every task), restored with uniform retrieval by each shipped model in float32
and in bfloat16: PSNR against the clean crop for both, and the largest absolute difference
between the two outputs. Speed and accuracy at paper size: ``vlunet-paper`` (random weights, a
fixed seed) on random inputs, float32 and bfloat16 forwards alternated in one process so that
the machine's load falls on both alike; median seconds and the max abs difference.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import core
from core.metrics import psnr
from core.network import bfloat16_inference


def _restore(network, image: torch.Tensor, bf16: bool) -> torch.Tensor:
    from core.tiling import apply_padded
    with torch.inference_mode(), bfloat16_inference(bf16):
        return apply_padded(lambda t: network(t, None), image, network.multiple).float().clamp(0, 1)


def quality(model: str, photos: str, crop: int) -> list[dict]:
    """Per-task PSNR in float32 and bfloat16, and the max abs difference of the outputs."""
    from training.evaluate import load_suite
    network = core.Restorer.from_pretrained(model, encoder=None).network
    rows: dict[str, dict] = {}
    for item in load_suite("photos", photos, crop=crop):
        fp32, bf16 = (_restore(network, item.degraded, flag) for flag in (False, True))
        row = rows.setdefault(item.task, {"model": model, "task": item.task, "fp32": [], "bf16": [], "diff": 0.0})
        row["fp32"].append(psnr(fp32[0], item.clean[0]))
        row["bf16"].append(psnr(bf16[0], item.clean[0]))
        row["diff"] = max(row["diff"], (fp32 - bf16).abs().max().item())
    return list(rows.values())


def speed(model: str, size: int, rounds: int) -> dict:
    """Median seconds of float32 and bfloat16 forwards, alternated, and their max abs difference."""
    torch.manual_seed(0)
    network = core.create_model(model).eval()
    x, d = torch.rand(1, 3, size, size), torch.randn(1, 512)
    times: dict[bool, list[float]] = {False: [], True: []}
    outputs = {}
    with torch.inference_mode():
        for flag in (False, True):   # warm-up at full size: the allocator's pool and kernel choice
            with bfloat16_inference(flag):
                outputs[flag] = network(x, d).float()
        for _ in range(rounds):
            for flag in (False, True):
                with bfloat16_inference(flag):
                    start = time.perf_counter()
                    network(x, d)
                    times[flag].append(time.perf_counter() - start)
    return {"model": model, "size": size, "fp32": statistics.median(times[False]),
            "bf16": statistics.median(times[True]), "runs": rounds,
            "diff": (outputs[False] - outputs[True]).abs().max().item()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quality-models", nargs="*", default=["vlunet-tiny", "vlunet-tiny-gpu"])
    p.add_argument("--photos", default="data/photos")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--speed-models", nargs="*", default=["vlunet-paper"])
    p.add_argument("--speed-sizes", nargs="*", type=int, default=[256, 512])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    core.keep_freed_memory()   # as the studio and the command line run the network
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.quality_models:
        print("| model | task | images | PSNR float32 | PSNR bfloat16 | difference dB | max abs difference |")
        print("|---|---|---|---|---|---|---|", flush=True)
        for model in args.quality_models:
            for r in quality(model, args.photos, args.crop):
                a, b = statistics.mean(r["fp32"]), statistics.mean(r["bf16"])
                print(f"| {model} | {r['task']} | {len(r['fp32'])} | {a:.3f} | {b:.3f} | {b - a:+.3f} | {r['diff']:.1e} |",
                      flush=True)
    if args.speed_models:
        print("\n| model | size | float32 s | bfloat16 s | speed-up | runs each | max abs difference |")
        print("|---|---|---|---|---|---|---|", flush=True)
        for model in args.speed_models:
            for size in args.speed_sizes:
                r = speed(model, size, args.rounds)
                print(f"| {model} | {size}² | {r['fp32']:.2f} | {r['bf16']:.2f} | {r['fp32'] / r['bf16']:.2f}x | "
                      f"{r['runs']} | {r['diff']:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
