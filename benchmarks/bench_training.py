"""Training throughput: patches per second of one optimiser step, split into its parts.

    python benchmarks/bench_training.py                     # vlunet-tiny vs promptir-tiny, 8 x 64^2, 1 thread
    python benchmarks/bench_training.py --models vlunet-paper promptir-paper --batch 2 --patch 128
    python benchmarks/bench_training.py --encoder default   # include d_I from the encoder
    python benchmarks/bench_training.py --models vlunet-tiny --batch 12 --patch 128 --threads 2 --amp  # CPU bfloat16
    python benchmarks/bench_training.py --models vlunet-tiny --device cuda --amp --batch 12 48 \\
        --patch 128 --compile none reduce-overhead --count-ops  # is the GPU step bound by dispatch?

For ``--steps`` steps after ``--warmup`` steps: data (PatchDataset items of the photo corpus,
synthesis included, in this process), encoder (``degradation_vector(encode_image)``, when
asked), and the network's forward + backward + AdamW step (the trainer's L1 loss, bfloat16
autocast with ``--amp``: the trainer's ``amp`` on CUDA, ``amp_cpu`` on the CPU). On CUDA every part ends with a synchronisation, so each time
is the device's, not the launch's. Prints seconds per step and patches per second for each
model, batch size and ``--compile`` mode (``torch.compile`` of the network, the trainer's
``compile`` option; ``none`` is eager). With several batch sizes, a network time that barely
grows with the batch means the step is bound by per-operator overhead (Python and kernel
launches), not by arithmetic: what compilation (``reduce-overhead`` adds CUDA graphs) removes.
``--count-ops`` adds the number of ATen operator calls of one eager step (torch.profiler).
The first compiled steps compile (minutes; inductor caches the result on disk): raise
``--warmup`` past them; the compile time is printed.
The figures depend on what else runs on the machine; report the load with them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.degradations import CANONICAL
from training.trainer.config import COMPILE_MODES, TrainConfig
from training.trainer.data import BatchPlan, batch_loader, patch_dataset
from training.losses import restoration_loss
from training.trainer.loop import autocast, compiled, guidance_vectors
from training.trainer.models import build_network, count_parameters, uses_guidance


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_aten_calls(step) -> int:
    """ATen operator calls (nested ones included) of one call of ``step()``."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def measure(model: str, batch: int, mode: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Seconds per step of data, encoder and network for ``model`` (after the warm-up steps)."""
    torch.manual_seed(0)
    network = build_network(model).to(device)
    encoder = None
    if args.encoder != "none" and uses_guidance(network):
        from core.encoder import DegradationEncoder
        encoder = DegradationEncoder.from_pretrained(None if args.encoder == "default" else args.encoder,
                                                     device=device).freeze()
    forward = compiled(network, mode)
    optimizer = torch.optim.AdamW(network.parameters(), lr=2e-4)
    amp = autocast(TrainConfig(amp=args.amp, amp_cpu=args.amp), device)   # the trainer's own choice
    dataset = patch_dataset(args.photos, CANONICAL, args.patch, seed=0, repeat=4)
    plan = BatchPlan(len(dataset), batch)
    total = args.warmup + args.steps
    times = {"data": 0.0, "encoder": 0.0, "network": 0.0}
    loader = iter(batch_loader(dataset, plan, 0, total))

    def network_step(degraded: torch.Tensor, clean: torch.Tensor, d: torch.Tensor | None) -> None:
        with amp:
            loss = restoration_loss(forward(degraded, d).float(), clean, degraded)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    warm_s = 0.0
    for step in range(total):
        t0 = time.perf_counter()
        degraded, clean, _, _ = next(loader)
        degraded, clean = degraded.to(device), clean.to(device)
        _sync(device)
        t1 = time.perf_counter()
        d = guidance_vectors(encoder, degraded)
        _sync(device)
        t2 = time.perf_counter()
        network_step(degraded, clean, d)
        _sync(device)
        t3 = time.perf_counter()
        if step >= args.warmup:   # the warm-up steps fill allocators and caches (and compile)
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key] += dt
        else:
            warm_s += t3 - t0
    per_step = {k: v / args.steps for k, v in times.items()}
    ops = count_aten_calls(lambda: network_step(degraded, clean, d)) if args.count_ops and mode == "none" else None
    return {"model": model, "batch": batch, "mode": mode, "parameters": count_parameters(network),
            **per_step, "total": sum(per_step.values()), "warmup_s": warm_s, "ops": ops}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vlunet-tiny", "promptir-tiny"])
    parser.add_argument("--batch", type=int, nargs="+", default=[8])
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compiled modes: the compilation)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (the trainer's amp on CUDA, amp_cpu on the CPU)")
    parser.add_argument("--compile", nargs="+", default=["none"], choices=COMPILE_MODES,
                        help="torch.compile modes to compare ('none': eager)")
    parser.add_argument("--count-ops", action="store_true", help="count the ATen calls of one eager step")
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--encoder", default="none", help="'none' (uniform retrieval), 'default' or an adapter file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"{where}; {args.patch}^2 patches, {args.steps} steps after {args.warmup} warm-up, "
          f"amp {args.amp}, encoder {args.encoder}, load average {os.getloadavg()[0]:.1f}")
    print("| model | parameters | batch | compile | data s/step | encoder s/step | network s/step | total s/step "
          "| patches/s | warm-up s | ATen calls/step | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    first = None
    for model in args.models:
        for batch in args.batch:
            for mode in args.compile:
                r = measure(model, batch, mode, args, device)
                note = (f"network {r['network'] / first['network']:.2f}x that of {first['model']}, batch "
                        f"{first['batch']}, {first['mode']}") if first else ""
                first = first or r
                print(f"| {model} | {r['parameters']:,} | {batch} | {mode} | {r['data']:.3f} | {r['encoder']:.3f} | "
                      f"{r['network']:.3f} | {r['total']:.3f} | {batch / r['total']:.2f} | {r['warmup_s']:.1f} | "
                      f"{r['ops'] if r['ops'] is not None else ''} | {note} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
