"""Patch sampler: random crops, the 8 flip/rotate augmentations, per-task repeat factors.

Works on synthetic tasks (clean photos degraded by :mod:`core.degradations`) and on real
pairs (:class:`~training.data.layout.Pair`). Every item draws its randomness from a
generator seeded by ``(seed, epoch, index)``, so the patches are the same for a seed
whatever the number of DataLoader workers; call :meth:`PatchDataset.set_epoch` before
each epoch (with non-persistent workers).

Item: ``(degraded, clean, label, summary)`` -- patches 3 x P x P in [0, 1], the
degradation's index in :data:`core.degradations.CANONICAL` (-1 for mixtures and extras)
and a JSON string recording the task, the source file and every parameter.
"""

from __future__ import annotations

import json
import pathlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from core.degradations import CANONICAL, DegradationSampler, NoiseParams, SamplerConfig, synthesize
from core.ensemble import dihedral

from .datasets import PairedImages
from .layout import DatasetLayoutError, Pair


@dataclass(frozen=True)
class SyntheticTask:
    """Clean ``photos`` degraded by ``degradation`` (a canonical name, extra or mixture);
    each photo is used ``repeat`` times per epoch; crops are taken at a random scale in
    ``scale_range`` (1 = native pixels) so that large wallpapers give varied content;
    ``synthesis`` holds the sampling ranges of the degradation (default: the held-out suite's)."""

    degradation: str
    photos: tuple[pathlib.Path, ...]
    repeat: int = 1
    scale_range: tuple[float, float] = (0.35, 1.0)
    synthesis: SamplerConfig = SamplerConfig()


@dataclass(frozen=True)
class RealTask:
    """Real pairs of one task (e.g. ``rain100l_pairs(root)``), repeated ``repeat`` times."""

    task: str
    pairs: tuple[Pair, ...] = field(repr=False)
    repeat: int = 1


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 62-bit seed from (seed, epoch, index), well mixed by numpy's SeedSequence."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(1, np.uint64)[0] >> 2)


def _randint(g: torch.Generator, high: int) -> int:
    return int(torch.randint(0, max(1, high), (1,), generator=g))


class PatchDataset(Dataset):
    """Training patches from a list of tasks; see the module docstring for the items."""

    def __init__(self, tasks, patch_size: int = 128, seed: int = 0, augment: bool = True,
                 cache_images: int = 64, skipped: int = 0):
        if not tasks:
            raise DatasetLayoutError("PatchDataset: no tasks given")
        self.tasks = list(tasks)
        self.patch_size = int(patch_size)
        self.seed = int(seed)
        self.augment = augment
        self.epoch = 0
        self.cache_images = cache_images
        self._cache: dict[pathlib.Path, torch.Tensor] = {}
        self._skipped_photos = int(skipped)   # photos dropped before the dataset was built
        self._pairs = [PairedImages(list(t.pairs)) if isinstance(t, RealTask) else None for t in self.tasks]
        self._index = []  # (task index, item index within the task)
        for ti, t in enumerate(self.tasks):
            n = len(t.photos) if isinstance(t, SyntheticTask) else len(t.pairs)
            if n == 0:
                raise DatasetLayoutError(f"PatchDataset: task {ti} ({getattr(t, 'degradation', getattr(t, 'task', ''))}) is empty")
            self._index += [(ti, i % n) for i in range(n * t.repeat)]

    @property
    def skipped(self) -> int:
        """Images dropped when the dataset was built (``skipped``) plus those that failed to decode
        in this process and were replaced (see :class:`PairedImages`); counts inside DataLoader
        worker processes do not reach it."""
        return self._skipped_photos + sum(p.skipped for p in self._pairs if p is not None)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._index)

    def _photo(self, path: pathlib.Path) -> torch.Tensor:
        """Decoded photo as 3 x H x W uint8 (cached per process)."""
        if path not in self._cache:
            with Image.open(path) as im:
                arr = np.array(im.convert("RGB"), dtype=np.uint8)
            if len(self._cache) >= self.cache_images:
                self._cache.pop(next(iter(self._cache)))
            self._cache[path] = torch.from_numpy(arr).permute(2, 0, 1)
        return self._cache[path]

    def _synthetic(self, task: SyntheticTask, i: int, g: torch.Generator):
        p = self.patch_size
        for k in range(len(task.photos)):
            path = task.photos[(i + k) % len(task.photos)]
            try:
                img = self._photo(path)
                break
            except (OSError, ValueError) as err:
                self._skipped_photos += 1
                warnings.warn(f"skipped unreadable photo {path.name} ({err}); {self._skipped_photos} so far", stacklevel=2)
        else:
            raise DatasetLayoutError("PatchDataset: no photo could be read")
        lo, hi = task.scale_range
        scale = lo + (hi - lo) * float(torch.rand(1, generator=g))
        side = min(round(p / scale), img.shape[-2], img.shape[-1])
        y, x = _randint(g, img.shape[-2] - side + 1), _randint(g, img.shape[-1] - side + 1)
        crop = img[:, y:y + side, x:x + side][None].float() / 255.0
        if side != p:
            crop = F.interpolate(crop, size=(p, p), mode="bicubic", antialias=side > p, align_corners=False)
        clean = dihedral(crop.clamp(0, 1), _randint(g, 8)) if self.augment else crop.clamp(0, 1)
        sampler = DegradationSampler(generator=g, config=task.synthesis)
        params = sampler.sample(task.degradation, 1, p, p)
        degraded = synthesize(clean, task.degradation, params)[0]
        info = {"task": task.degradation, "source": path.name, "scale": round(scale, 4), "params": params.item(0)}
        return degraded, clean[0], task.degradation, info

    def _real(self, ti: int, i: int, g: torch.Generator):
        clean, degraded, pair = self._pairs[ti].load(i)
        if degraded is None:  # on-the-fly noise: crop first, then synthesize
            degraded = clean
        p = self.patch_size
        h, w = clean.shape[-2:]
        if h < p or w < p:  # pad small images by reflection (replicate when too small)
            pad = (0, max(0, p - w), 0, max(0, p - h))
            mode = "reflect" if max(pad) < min(h, w) else "replicate"
            clean, degraded = (F.pad(t[None], pad, mode=mode)[0] for t in (clean, degraded))
            h, w = clean.shape[-2:]
        y, x = _randint(g, h - p + 1), _randint(g, w - p + 1)
        mode = _randint(g, 8)
        clean, degraded = (t[:, y:y + p, x:x + p] for t in (clean, degraded))
        if self.augment:
            clean, degraded = dihedral(clean, mode), dihedral(degraded, mode)
        info = {"task": pair.task, "source": pair.clean.name}
        if pair.degraded is None:
            params = NoiseParams(seed=torch.randint(0, 2**62, (1,), generator=g), sigma=torch.tensor([pair.sigma]))
            degraded = synthesize(clean[None], "noise", params)[0]
            info["params"] = params.item(0)
        return degraded, clean, pair.task, info

    def __getitem__(self, index: int):
        ti, i = self._index[index]
        g = torch.Generator().manual_seed(item_seed(self.seed, self.epoch, index))
        task = self.tasks[ti]
        out = self._synthetic(task, i, g) if isinstance(task, SyntheticTask) else self._real(ti, i, g)
        degraded, clean, name, info = out
        label = CANONICAL.index(name) if name in CANONICAL else -1
        return degraded.contiguous(), clean.contiguous(), label, json.dumps(info, sort_keys=True)
