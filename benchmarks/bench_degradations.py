"""Degradation figures: input PSNR per degradation on a known photo, and synthesis speed.

    python benchmarks/bench_degradations.py                 # PSNR table + 128x128 patches/s, 1 thread
    python benchmarks/bench_degradations.py --sheet out.png # also a contact sheet on one photo

PSNR: mean (min-max) over ``--samples`` draws on skimage's astronaut (512 x 512), in dB.
Speed: ``--batch`` patches of ``--size`` pixels synthesized per call on one CPU thread;
"sampler" also counts a PatchDataset item (crop + augmentation + synthesis) from the photo
corpus when it is built.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from core.degradations import CANONICAL, DegradationSampler, synthesize

NAMES = CANONICAL + ("noise", "rain_heavy", "haze+noise_25", "low_light+noise_15")


def psnr_table(samples: int) -> None:
    x = torch.from_numpy(data.astronaut().copy()).permute(2, 0, 1)[None].float() / 255.0
    s = DegradationSampler(seed=0)
    print(f"{'degradation':20s} input PSNR dB (astronaut 512x512, {samples} draws)")
    for name in NAMES:
        v = [peak_signal_noise_ratio(x[0].numpy(), synthesize(x, name, s.sample(name, 1, 512, 512))[0].numpy(),
                                     data_range=1.0) for _ in range(samples)]
        print(f"{name:20s} {np.mean(v):6.2f}  ({np.min(v):.2f}-{np.max(v):.2f})")


def speed(size: int, batch: int, seconds: float) -> None:
    x = torch.rand(batch, 3, size, size)
    s = DegradationSampler(seed=0)
    print(f"{'degradation':20s} {size}x{size} patches/s (batch {batch}, 1 thread)")
    for name in NAMES:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            synthesize(x, name, s.sample(name, batch, size, size))
            n += batch
        print(f"{name:20s} {n / (time.perf_counter() - t0):8.1f}")


def dataset_speed(size: int, seconds: float) -> None:
    try:
        from training.data.patches import PatchDataset, SyntheticTask
        from training.data.photos import photo_paths
        paths = tuple(photo_paths("data/photos", "train"))
    except Exception as err:  # corpus not built: skip this figure
        print(f"PatchDataset speed skipped ({err})")
        return
    ds = PatchDataset([SyntheticTask(n, paths) for n in CANONICAL], patch_size=size)
    for i in range(len(paths)):  # warm the decoded-photo cache, as a long epoch does
        ds._photo(paths[i])
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ds[(n * 7919) % len(ds)]
        n += 1
    print(f"PatchDataset items/s (7 tasks, photo corpus, 1 thread, warm cache): {n / (time.perf_counter() - t0):.1f}")


def sheet(path: str) -> None:
    from PIL import Image
    x = torch.from_numpy(data.astronaut().copy()).permute(2, 0, 1)[None].float() / 255.0
    s = DegradationSampler(seed=1)
    tiles = [x] + [synthesize(x, n, s.sample(n, 1)) for n in CANONICAL]
    grid = torch.cat([torch.cat(tiles[:4], 3), torch.cat(tiles[4:], 3)], 2)[0]
    Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    print(f"contact sheet (clean, {', '.join(CANONICAL)}) -> {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Degradation PSNR bands and synthesis speed.")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=1.5, help="time per speed figure")
    parser.add_argument("--sheet", default=None, help="write a contact sheet PNG here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    psnr_table(args.samples)
    speed(args.size, args.batch, args.seconds)
    dataset_speed(args.size, args.seconds * 2)
    if args.sheet:
        sheet(args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
