"""Degradation detection on whole photos at their native size (not crops): each held-out photo
degraded by every class with a seeded generator, classified by the shipped encoder.

    python benchmarks/bench_detection.py [--photos data/photos] [--split val] [--encoder offline]
    python -m training.data.photos --out data/photos-native --max-side 0     # the photos at their own size
    python benchmarks/bench_detection.py --photos data/photos-native --split train --min-megapixels 2 \
        --packages lxqt-themes forensics-samples-files palapeli-data sddm-theme-maldives digikam-data \
        libjxl-testdata librust-jpeg-decoder-dev        # 2-12 MP photos the shipped encoder never saw

Prints the 7-class and 5-type accuracy, the expected calibration error of the 7-class
probabilities, per class, and every miss with the probability it was given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.degradations import degrade  # noqa: E402
from core.encoder import LABELS, DegradationEncoder, coarse_of  # noqa: E402
from training.calibration import expected_calibration_error  # noqa: E402
from training.data.photos import package_of  # noqa: E402


def _megapixels(path: Path) -> float:
    with Image.open(path) as im:
        return im.width * im.height / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("data/photos"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--encoder", default=None, help="registered encoder or adapter file (default: shipped)")
    parser.add_argument("--packages", nargs="*", default=None, help="only photos from these Debian packages")
    parser.add_argument("--min-megapixels", type=float, default=0.0, help="only photos of at least this size")
    parser.add_argument("--native-crop", type=int, default=None,
                        help="side of the centre crop the encoder reads (default: its config's; 0: the whole photo)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    encoder = DegradationEncoder.from_pretrained(args.encoder)
    if args.native_crop is not None:
        encoder.backbone.native_crop = args.native_crop
    generator = torch.Generator().manual_seed(args.seed)
    paths = [p for p in sorted((args.photos / args.split).glob("*.png"))
             if args.packages is None or package_of(p) in args.packages]
    Image.MAX_IMAGE_PIXELS = None   # the corpus's own photos, up to 12 MP
    paths = [p for p in paths if _megapixels(p) >= args.min_megapixels]
    if not paths:
        print(f"error: no photos chosen in {args.photos / args.split} (python -m training.data.photos)", file=sys.stderr)
        return 2
    right, right_type, misses, probabilities, truths = {label: 0 for label in LABELS}, 0, [], [], []
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        clean = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None]
        for label in LABELS:
            degraded, _ = degrade(clean, label, generator)
            with torch.no_grad():
                probs = encoder.classify(degraded.clamp(0, 1))[0]
            found = LABELS[int(probs.argmax())]
            probabilities.append(probs.numpy())
            truths.append(LABELS.index(label))
            right[label] += found == label
            right_type += coarse_of(found) == coarse_of(label)
            if found != label:
                misses.append(f"{path.stem} ({clean.shape[-1]}x{clean.shape[-2]}): {label} read as {found} "
                              f"(p {float(probs.max()):.2f})")
    total = len(paths) * len(LABELS)
    print(f"{len(paths)} photos x {len(LABELS)} degradations at native size: 7 classes {sum(right.values())}/{total} "
          f"({sum(right.values()) / total:.1%}), 5 types {right_type}/{total} ({right_type / total:.1%}), "
          f"calibration error {expected_calibration_error(np.stack(probabilities), np.array(truths)):.3f}")
    print("per class: " + ", ".join(f"{label} {n}/{len(paths)}" for label, n in right.items()))
    for miss in misses:
        print("miss:", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
