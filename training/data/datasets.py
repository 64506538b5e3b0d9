"""Loaders for the real all-in-one benchmarks (3-task and 5-task settings, paper Sec. 4.1).

Each ``*_pairs`` function returns a list of :class:`Pair` from one dataset folder and
raises :class:`DatasetLayoutError` (one line, showing the expected layout) when the folder
is missing or misnamed. :class:`PairedImages` turns pairs into a torch Dataset of whole
images; unreadable files are skipped (warning with a count) and training goes on.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from core.degradations import NoiseParams, synthesize

from .layout import (DatasetLayoutError, Pair, digits_key, find_dir, list_images, paired_folders,
                     pairs_from_txt, readable)

__all__ = ["Pair", "PairedImages", "DatasetLayoutError", "pairs_from_txt", "denoise_pairs", "rain100l_pairs",
           "reside_pairs", "gopro_pairs", "lol_pairs", "cbsd68_pairs", "load_image"]

RAIN_LAYOUT = "<root>/{rainy|rain|input}/rain-N.png and <root>/{gt|norain|target}/norain-N.png (Rain100L)"
HAZE_LAYOUT = ("<root>/{hazy|synthetic|input}/0001_0.8_0.2.jpg (any sub-folders) and "
               "<root>/{clear|original|gt|target}/0001.jpg (RESIDE OTS / SOTS outdoor)")
GOPRO_LAYOUT = "<root>/<scene>/blur/*.png and <root>/<scene>/sharp/*.png (GOPRO_Large train or test)"
LOL_LAYOUT = "<root>/{low|input}/N.png and <root>/{high|gt|target}/N.png (LOL our485 or eval15)"
DENOISE_LAYOUT = "<root>/ holding clean images in any sub-folders (BSD400 + WED)"
CBSD68_LAYOUT = "<root>/ (or <root>/original_png/) with the 68 clean images, optional <root>/noisy{15,25,50}/"


def load_image(path: pathlib.Path) -> torch.Tensor:
    """RGB image as a 3 x H x W float tensor in [0, 1]."""
    with Image.open(path) as im:
        arr = np.array(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)


def denoise_pairs(root: str | pathlib.Path, sigmas=(15, 25, 50)) -> list[Pair]:
    """BSD400 + WED clean images, one pair per (image, sigma); noise is added on the fly."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"denoise: folder {root} not found; expected layout: {DENOISE_LAYOUT}")
    clean = readable(list_images(root, recursive=True), "denoise")
    if not clean:
        raise DatasetLayoutError(f"denoise: no readable images in {root}; expected layout: {DENOISE_LAYOUT}")
    return [Pair(None, c, f"noise_{int(s)}", float(s)) for s in sigmas for c in clean]


def rain100l_pairs(root: str | pathlib.Path) -> list[Pair]:
    """Rain100L (train or test) rainy/clean pairs."""
    return paired_folders(pathlib.Path(root), "rain", "Rain100L", RAIN_LAYOUT, ("rainy", "rain", "input"),
                          ("gt", "norain", "target", "clean"), lambda p: digits_key(p.stem, "no|rain[-_]?|norain[-_]?"),
                          lambda p: digits_key(p.stem, "norain[-_]?|rain[-_]?"))


def reside_pairs(root: str | pathlib.Path) -> list[Pair]:
    """RESIDE OTS (training) or SOTS outdoor (test): many hazy images per clear image."""
    return paired_folders(pathlib.Path(root), "haze", "RESIDE", HAZE_LAYOUT, ("hazy", "synthetic", "input"),
                          ("clear", "original", "gt", "target"), lambda p: p.stem.split("_")[0],
                          recursive=True)


def gopro_pairs(root: str | pathlib.Path) -> list[Pair]:
    """GoPro blur/sharp pairs from every scene folder under ``root``."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"GoPro: folder {root} not found; expected layout: {GOPRO_LAYOUT}")
    scenes = sorted(p for p in root.iterdir() if (p / "blur").is_dir() and (p / "sharp").is_dir())
    if not scenes:
        raise DatasetLayoutError(f"GoPro: no <scene>/blur + <scene>/sharp folders in {root}; "
                                 f"expected layout: {GOPRO_LAYOUT}")
    pairs = []
    for s in scenes:
        pairs += paired_folders(s, "blur", "GoPro", GOPRO_LAYOUT, ("blur",), ("sharp",), lambda p: p.stem)
    return pairs


def lol_pairs(root: str | pathlib.Path) -> list[Pair]:
    """LOL low/high pairs (our485 for training, eval15 for testing)."""
    return paired_folders(pathlib.Path(root), "low_light", "LOL", LOL_LAYOUT, ("low", "input"),
                          ("high", "gt", "target", "normal"), lambda p: p.stem)


def cbsd68_pairs(root: str | pathlib.Path, sigma: int) -> list[Pair]:
    """CBSD68 at ``sigma``: pre-noised ``noisy{sigma}/`` files when present, else on-the-fly noise."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"CBSD68: folder {root} not found; expected layout: {CBSD68_LAYOUT}")
    try:
        clean_dir = find_dir(root, ("original_png", "original", "clean", "gt"), "CBSD68", CBSD68_LAYOUT)
    except DatasetLayoutError:
        clean_dir = root
    clean = readable(list_images(clean_dir), "CBSD68")
    if not clean:
        raise DatasetLayoutError(f"CBSD68: no readable images in {clean_dir}; expected layout: {CBSD68_LAYOUT}")
    noisy_dir = root / f"noisy{int(sigma)}"
    if noisy_dir.is_dir():
        noisy = {p.stem: p for p in readable(list_images(noisy_dir), "CBSD68")}
        return [Pair(noisy[c.stem], c, f"noise_{int(sigma)}", float(sigma)) for c in clean if c.stem in noisy]
    return [Pair(None, c, f"noise_{int(sigma)}", float(sigma)) for c in clean]


class PairedImages(Dataset):
    """Whole-image pairs: item -> {"degraded", "clean": 3 x H x W in [0, 1], "task", "name"}.

    For pairs without a degraded file, Gaussian noise of the pair's sigma is added to the
    clean image with the fixed per-item seed ``seed + index`` (clipped and, with
    ``quantize=True``, truncated to 8 bits as the benchmarks do), so test sets are
    reproducible. An image that fails to decode is replaced by the next one and counted
    in ``self.skipped`` (with a warning).
    """

    def __init__(self, pairs: list[Pair], seed: int = 0, quantize: bool = True):
        if not pairs:
            raise DatasetLayoutError("PairedImages: no pairs given")
        self.pairs = list(pairs)
        self.seed = int(seed)
        self.quantize = quantize
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None, Pair]:
        """(clean, degraded or None, pair used) for ``index``; an unreadable pair is replaced
        by the next readable one."""
        for k in range(len(self.pairs)):
            pair = self.pairs[(index + k) % len(self.pairs)]
            try:
                clean = load_image(pair.clean)
                degraded = load_image(pair.degraded) if pair.degraded is not None else None
                if degraded is not None and degraded.shape != clean.shape:
                    raise OSError(f"size mismatch {tuple(degraded.shape)} vs {tuple(clean.shape)}")
                return clean, degraded, pair
            except (OSError, ValueError) as err:
                self.skipped += 1
                warnings.warn(f"skipped unreadable pair {pair.clean.name} ({err}); "
                              f"{self.skipped} skipped so far", stacklevel=2)
        raise DatasetLayoutError("PairedImages: no pair could be read")

    def noise_params(self, index: int, sigma: float) -> NoiseParams:
        return NoiseParams(seed=torch.tensor([self.seed + index]), sigma=torch.tensor([float(sigma)]),
                           clip=True, quantize=self.quantize)

    def __getitem__(self, index: int) -> dict:
        clean, degraded, pair = self.load(index)
        if degraded is None:
            degraded = synthesize(clean[None], "noise", self.noise_params(index, pair.sigma or 0.0))[0]
        return {"degraded": degraded, "clean": clean, "task": pair.task, "name": pair.clean.stem}
