"""Degraded crops of clean photos and their cached frozen-backbone features (encoder fine-tuning).

For every photo and every canonical degradation, `crops_per_class` random crops are degraded
by `core.degradations.degrade` with a generator seeded by (seed, photo, class), so the same
call always yields the same samples. The frozen backbone's features of these crops are
computed once and cached (safetensors under data/encoder_cache/), which turns CPU training
of the adapters into minutes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from core.degradations import CANONICAL, degrade

CROP_SIZES = (128, 192, 256, 320, 384, 512)


@dataclass(frozen=True)
class CropSpec:
    """How crops are drawn: a random crop side from `crop_sizes`, after downscaling the photo
    so that its short side lies in [min_short, max_short] (content scale varies, pixels stay
    pixels: noise and streaks are synthesised at the crop's own resolution)."""

    crops_per_class: int = 4
    crop_sizes: tuple[int, ...] = CROP_SIZES
    min_short: int = 512
    max_short: int = 1024


def load_photo(path: Path) -> torch.Tensor:
    """An RGB photo file -> 1 x 3 x H x W float in [0, 1]."""
    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def degraded_crops(photo: torch.Tensor, label: str, spec: CropSpec, generator: torch.Generator) -> torch.Tensor:
    """`spec.crops_per_class` crops of one photo degraded by `label` -> K x 3 x S x S in [0, 1]."""
    g = generator
    short = int(torch.randint(spec.min_short, spec.max_short + 1, (1,), generator=g))
    h, w = photo.shape[-2:]
    scale = min(1.0, short / min(h, w))
    if scale < 1.0:
        photo = F.interpolate(photo, size=(round(h * scale), round(w * scale)), mode="bicubic",
                              antialias=True, align_corners=False).clamp(0, 1)
    h, w = photo.shape[-2:]
    size = min(spec.crop_sizes[int(torch.randint(len(spec.crop_sizes), (1,), generator=g))], h, w)
    crops = []
    for _ in range(spec.crops_per_class):
        top = int(torch.randint(h - size + 1, (1,), generator=g))
        left = int(torch.randint(w - size + 1, (1,), generator=g))
        crops.append(photo[..., top:top + size, left:left + size])
    clean = torch.cat(crops)
    if bool(torch.rand(1, generator=g) < 0.5):
        clean = clean.flip(-1)
    out, _ = degrade(clean, label, g)
    return out.clamp(0, 1)


def sample_seed(seed: int, photo: str, label: str) -> int:
    """A stable 63-bit seed for (seed, photo name, label)."""
    digest = hashlib.sha256(f"{seed}/{photo}/{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def iter_samples(paths: list[Path], spec: CropSpec, seed: int):
    """Yield (photo index, label index, K x 3 x S x S degraded crops) over photos x labels."""
    for i, path in enumerate(paths):
        photo = load_photo(path)
        for c, label in enumerate(CANONICAL):
            g = torch.Generator().manual_seed(sample_seed(seed, Path(path).name, label))
            yield i, c, degraded_crops(photo, label, spec, g)


def cache_key(backbone_config: dict, paths: list[Path], spec: CropSpec, seed: int) -> str:
    """Hash of everything the cached features depend on."""
    blob = json.dumps({"backbone": backbone_config, "photos": [Path(p).name for p in paths],
                       "spec": spec.__dict__, "seed": seed}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_features(encode, backbone_config: dict, paths: list[Path], spec: CropSpec, seed: int,
                    cache_dir: Path, desc: str = "features") -> dict[str, torch.Tensor]:
    """Frozen features of all degraded crops, computed once: {"features" N x D, "labels" N, "photos" N}.

    `encode` maps a K x 3 x S x S batch in [0, 1] to K x D features (the frozen backbone).
    """
    if not paths:
        raise FileNotFoundError("no photos given: build the corpus with `python -m training.data.photos --out data/photos`")
    path = Path(cache_dir) / f"{desc}-{cache_key(backbone_config, paths, spec, seed)}.safetensors"
    if path.is_file():
        return load_file(str(path))
    feats, labels, photos = [], [], []
    total = len(paths) * len(CANONICAL)
    for i, c, crops in tqdm(iter_samples(paths, spec, seed), total=total, desc=desc, unit="set"):
        feats.append(encode(crops).float())
        labels += [c] * len(crops)
        photos += [i] * len(crops)
    out = {"features": torch.cat(feats), "labels": torch.tensor(labels), "photos": torch.tensor(photos)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path))
    return out


def list_photos(root: str | Path, split: str) -> list[Path]:
    """Photos of `split` under `root`: the curated corpus (training.data.photos) where it is
    there, else every .png/.jpg in `root/split` (sorted)."""
    from training.data.photos import PhotoCorpusError, photo_paths

    try:
        return photo_paths(root, split)
    except PhotoCorpusError:
        folder = Path(root) / split
        paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not paths:
            raise FileNotFoundError(f"no {split} photos in {folder}: build the corpus with "
                                    f"`python -m training.data.photos --out {root}`") from None
        return paths
