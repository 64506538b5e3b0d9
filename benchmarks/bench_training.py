"""Training throughput: patches per second of one optimiser step, split into its parts.

    python benchmarks/bench_training.py                     # vlunet-tiny vs promptir-tiny, 8 x 64^2, 1 thread
    python benchmarks/bench_training.py --models vlunet-paper promptir-paper --batch 2 --patch 128
    python benchmarks/bench_training.py --encoder default   # include d_I from the encoder

For ``--steps`` steps after one warm-up step: data (PatchDataset items of the photo corpus,
synthesis included), encoder (``degradation_vector(encode_image)``, when asked), and the
network's forward + backward + AdamW step. Prints seconds per step and patches per second for
each model (by default VLU-Net and its equal-parameter baseline, measured in the same run, with
their ratio).
The figures depend on what else runs on the machine; report the load with them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.degradations import CANONICAL
from training.trainer.data import BatchPlan, batch_loader, patch_dataset
from training.trainer.loop import guidance_vectors
from training.trainer.models import build_network, count_parameters, uses_guidance


def measure(model: str, args: argparse.Namespace) -> dict:
    """Seconds per step of data, encoder and network for ``model`` (after one warm-up step)."""
    torch.manual_seed(0)
    network = build_network(model)
    encoder = None
    if args.encoder != "none" and uses_guidance(network):
        from core.encoder import DegradationEncoder
        encoder = DegradationEncoder.from_pretrained(None if args.encoder == "default" else args.encoder).freeze()
    optimizer = torch.optim.AdamW(network.parameters(), lr=2e-4)
    dataset = patch_dataset(args.photos, CANONICAL, args.patch, seed=0, repeat=4)
    plan = BatchPlan(len(dataset), args.batch)
    times = {"data": 0.0, "encoder": 0.0, "network": 0.0}
    loader = iter(batch_loader(dataset, plan, 0, args.steps + 1))
    for step in range(args.steps + 1):
        t0 = time.perf_counter()
        degraded, clean, _, _ = next(loader)
        t1 = time.perf_counter()
        d = guidance_vectors(encoder, degraded)
        t2 = time.perf_counter()
        loss = F.l1_loss(network(degraded, d), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        t3 = time.perf_counter()
        if step:  # the first step warms up allocators and caches
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key] += dt
    per_step = {k: v / args.steps for k, v in times.items()}
    return {"model": model, "parameters": count_parameters(network), **per_step, "total": sum(per_step.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vlunet-tiny", "promptir-tiny"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--encoder", default="none", help="'none' (uniform retrieval), 'default' or an adapter file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch} x {args.patch}^2, {args.steps} steps after one warm-up, {args.threads} thread(s), "
          f"encoder {args.encoder}, load average {os.getloadavg()[0]:.1f}")
    print("| model | parameters | data s/step | encoder s/step | network s/step | total s/step | patches/s | note |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    first = None
    for model in args.models:
        r = measure(model, args)
        note = f"{model} / {first['model']}: {r['total'] / first['total']:.2f}x the step time" if first else ""
        first = first or r
        print(f"| {model} | {r['parameters']:,} | {r['data']:.3f} | {r['encoder']:.3f} | {r['network']:.3f} | "
              f"{r['total']:.3f} | {args.batch / r['total']:.2f} | {note} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
