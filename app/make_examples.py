"""Regenerate the studio's examples: one degraded sample of each type in assets/examples/.

    python -m app.make_examples [--photos data/photos] [--out assets/examples] [--side 512]

Each example is a validation photo of the clean corpus (``python -m training.data.photos``)
whose licence allows redistribution, downscaled to ``--side`` pixels on its long side
(Lanczos), then degraded by our own synthesis (``core.degradations.degrade``) with a fixed
seed. Noise examples are PNG (JPEG would smooth the noise away), the others JPEG (quality 92).
The folder's README.md lists source file, package, licence, degradation and seed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.degradations import degrade
from training.data.photos import read_manifest

# degradation -> validation photo (file inside its Debian package); licences in the manifest
CHOICES = {
    "noise_15": "usr/share/backgrounds/mate/nature/LadyBird.jpg",
    "noise_25": "usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg",
    "noise_50": "usr/share/doc/opencv-doc/examples/data/fruits.jpg",
    "haze": "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
    "rain": "usr/share/doc/opencv-doc/examples/data/building.jpg",
    "blur": "usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg",
    "low_light": "usr/share/doc/opencv-doc/examples/hfs/data/002.jpg",
}
REDISTRIBUTABLE = ("CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "GPL-2+", "LGPL-3.0", "Apache-2.0 AND BSD-3-Clause")
SEED = 2025


def make_example(clean_path: Path, name: str, seed: int, side: int) -> Image.Image:
    """Downscale the clean photo to ``side`` on its long side and apply degradation ``name``."""
    img = Image.open(clean_path).convert("RGB")
    scale = side / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    clean = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    degraded, _ = degrade(clean, name, torch.Generator().manual_seed(seed))
    arr = (degraded[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="data/photos", help="the clean corpus (python -m training.data.photos)")
    parser.add_argument("--out", default="assets/examples")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    records = {r.file: r for r in read_manifest()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Example images", "",
             "Degraded by `core.degradations.degrade` from validation photos of the clean corpus (never seen in "
             f"training), long side {args.side} px. Regenerate with `python -m app.make_examples`.", "",
             "| example | degradation | seed | source file | Debian package | licence | description |",
             "|---|---|---|---|---|---|---|"]
    for i, (name, file) in enumerate(CHOICES.items()):
        record = records[file]
        if record.licence not in REDISTRIBUTABLE or record.split != "val":
            print(f"error: {file} ({record.licence}, {record.split}) may not be shipped as an example", file=sys.stderr)
            return 1
        clean = Path(args.photos) / "val" / record.name
        if not clean.is_file():
            print(f"error: {clean} is missing; build the corpus with `python -m training.data.photos --out {args.photos}`",
                  file=sys.stderr)
            return 1
        seed = args.seed + i
        image = make_example(clean, name, seed, args.side)
        ext = "png" if name.startswith("noise") else "jpg"
        target = out / f"{i + 1}_{name}.{ext}"
        image.save(target, **({"quality": 92} if ext == "jpg" else {"optimize": True}))
        lines.append(f"| `{target.name}` | {name} | {seed} | `{file}` | {record.package} | {record.licence} | "
                     f"{record.description} |")
        print(f"{target} {image.size[0]}x{image.size[1]} {target.stat().st_size / 1024:.0f} KiB")
    lines += ["", "The photos keep their licences (see the Debian packages' copyright files); the CC-BY and CC-BY-SA "
              "photographs are credited to the authors named in their file names."]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
