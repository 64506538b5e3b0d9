"""A compact copy of the photo corpus, small enough to carry to a machine with no registry.

    python -m training.data.compact --photos data/photos --out data/photos-compact

Every photo of ``train/`` and ``val/`` is brought to at most ``--long-side`` pixels (``val/``:
``--val-long-side``; Lanczos, never enlarged) and written as a JPEG of ``--quality`` with full
chroma (4:4:4). The corpus's photos are themselves decoded JPEG wallpapers or PNGs; at quality
94 the re-encoding error is far below the degradations trained on (40-53 dB PSNR against the
resized photo, 47 dB on average over every sixth train photo). The
wallpapers, 2048 px wide, come out at 0.625 of their size: a training config on the compact
copy uses ``scale_range`` about [0.8, 1.0] where one on the full corpus uses [0.5, 1.0].
``index.json`` is copied with each entry's compact size added.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

from training.trainer.data import list_photos


def compact_photo(source: Path, target: Path, long_side: int, quality: int) -> tuple[int, int]:
    """Write ``source`` to ``target`` (JPEG) with its long side at most ``long_side``; returns (W, H)."""
    with Image.open(source) as im:
        im = im.convert("RGB")
        scale = long_side / max(im.size)
        if scale < 1:
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
        target.parent.mkdir(parents=True, exist_ok=True)
        im.save(target, "JPEG", quality=quality, subsampling=0)
        return im.size


def compact_corpus(photos: Path, out: Path, long_side: int = 1280, val_long_side: int = 512,
                   quality: int = 94) -> dict[str, int]:
    """Write the compact copy of ``photos`` under ``out``; returns {split: bytes written}."""
    index_path = photos / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    written = {}
    for split, side in (("train", long_side), ("val", val_long_side)):
        total = 0
        for source in list_photos(photos, split):
            target = out / split / f"{source.stem}.jpg"
            width, height = compact_photo(source, target, side, quality)
            total += target.stat().st_size
            entry = index.get(source.name)
            if entry is not None and entry.get("split", split) == split:
                entry.update({"compact_file": f"{split}/{target.name}", "compact_width": width,
                              "compact_height": height})
        written[split] = total
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data.compact", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("data/photos"))
    parser.add_argument("--out", type=Path, default=Path("data/photos-compact"))
    parser.add_argument("--long-side", type=int, default=1280)
    parser.add_argument("--val-long-side", type=int, default=512)
    parser.add_argument("--quality", type=int, default=94)
    args = parser.parse_args(argv)
    if not 1 <= args.quality <= 100 or min(args.long_side, args.val_long_side) < 64:
        print("error: --quality must be in 1..100 and the long sides at least 64", file=sys.stderr)
        return 2
    try:
        written = compact_corpus(args.photos, args.out, args.long_side, args.val_long_side, args.quality)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for split, size in written.items():
        print(f"{args.out / split}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
