"""Training batches and the held-out photo suite.

Batches are a pure function of ``(seed, step)``: epoch ``e`` visits the patch dataset in a
permutation seeded by ``(seed, e)`` and step ``s`` takes the ``s``-th slice of
``batch_size x world_size`` indices (process ``r`` its ``r``-th block), so a resumed run, a
run with DataLoader workers and a DDP run all see the same patches as an uninterrupted one.

The photo suite (:func:`photo_suite`) is the held-out evaluation of the shipped model: every
val photo, its short side brought to at most ``resize_short``, ``crops_per_photo`` crops of
``crop`` pixels, each degraded by every task with a generator seeded by
``(seed, photo, task, crop)`` -- the same pixels on every machine and every call.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from core.degradations import CANONICAL, SamplerConfig, degrade
from training.data.layout import decode_problem
from training.data.patches import PatchDataset, SyntheticTask, item_seed

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_photos(root: str | Path, split: str) -> list[Path]:
    """Sorted images in ``<root>/<split>``; FileNotFoundError naming the folder when empty."""
    folder = Path(root) / split
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"no {split} photos in {folder}: build the corpus with "
                                f"`python -m training.data.photos --out {root}`")
    return paths


def readable_photos(paths: list[Path]) -> tuple[list[Path], dict[Path, str]]:
    """(photos that decode, {unreadable photo: why}) -- see :func:`training.data.layout.decode_problem`."""
    problems = {p: decode_problem(p) for p in paths}
    return [p for p in paths if problems[p] is None], {p: why for p, why in problems.items() if why is not None}


def patch_dataset(photos_root: str | Path, tasks, patch_size: int, seed: int, repeat: int | dict[str, int] = 1,
                  scale_range=(0.35, 1.0), synthesis: SamplerConfig = SamplerConfig()) -> PatchDataset:
    """Patches of the train photos, every task in ``tasks`` synthesised on the fly with the ranges
    of ``synthesis``; ``repeat`` is one count for all tasks or a ``{task: count}`` mapping (the
    share of each task per epoch).

    Photos that do not decode are dropped here, with one warning; their number starts the
    dataset's ``skipped`` count (a count kept in the parent process, whatever the DataLoader workers).
    """
    photos, unreadable = readable_photos(list_photos(photos_root, "train"))
    folder = Path(photos_root) / "train"
    if unreadable:
        named = ", ".join(f"{p.name} ({why})" for p, why in list(unreadable.items())[:3])
        more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        if not photos:
            raise FileNotFoundError(f"no readable train photos in {folder}: {named}{more}")
        warnings.warn(f"skipped {len(unreadable)} unreadable train photo(s) of {len(unreadable) + len(photos)} "
                      f"in {folder}: {named}{more}", stacklevel=2)
    times = repeat if isinstance(repeat, dict) else {t: repeat for t in tasks}
    return PatchDataset([SyntheticTask(t, tuple(photos), times[t], tuple(scale_range), synthesis) for t in tasks],
                        patch_size=patch_size, seed=seed, skipped=len(unreadable))


class _EpochItems(Dataset):
    """``flat = epoch * len(base) + index`` -> the base item of that epoch (works in workers)."""

    def __init__(self, base: PatchDataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, flat: int):
        epoch, index = divmod(int(flat), len(self.base))
        self.base.set_epoch(epoch)
        return self.base[index]


@dataclass(frozen=True)
class BatchPlan:
    """Which dataset items form step ``s`` of process ``rank`` (see the module docstring)."""

    dataset_size: int
    batch_size: int
    world_size: int = 1
    rank: int = 0
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        steps = self.dataset_size // (self.batch_size * self.world_size)
        if steps < 1:
            raise ValueError(f"{self.dataset_size} patches per epoch cannot fill one batch of "
                             f"{self.batch_size} x {self.world_size} processes; raise `repeat`")
        return steps

    def indices(self, step: int) -> list[int]:
        """Flat item indices (epoch * size + index) of ``step`` for this process."""
        epoch, j = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(item_seed(self.seed, epoch, 2**31))
        perm = torch.randperm(self.dataset_size, generator=g)
        start = (j * self.world_size + self.rank) * self.batch_size
        return [epoch * self.dataset_size + int(i) for i in perm[start:start + self.batch_size]]

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch


class _Steps:
    def __init__(self, plan: BatchPlan, start: int, stop: int):
        self.plan, self.start, self.stop = plan, start, stop

    def __iter__(self):
        return (self.plan.indices(s) for s in range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def batch_loader(dataset: PatchDataset, plan: BatchPlan, start: int, stop: int, num_workers: int = 0) -> DataLoader:
    """Batches ``(degraded, clean, labels, summaries)`` of steps ``start .. stop-1``."""
    return DataLoader(_EpochItems(dataset), batch_sampler=_Steps(plan, start, stop),
                      num_workers=num_workers, persistent_workers=False)


@dataclass(frozen=True)
class SuiteImage:
    """One held-out test image: 1 x 3 x H x W tensors in [0, 1]."""

    task: str
    name: str
    degraded: torch.Tensor
    clean: torch.Tensor
    params: object = None   # the degradation parameters (synthetic images), e.g. for oracle baselines

    @property
    def label(self) -> int:
        return CANONICAL.index(self.task) if self.task in CANONICAL else -1


def _load_resized(path: Path, resize_short: int) -> torch.Tensor:
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = resize_short / min(im.size)
        if scale < 1:
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


def photo_suite(root: str | Path, split: str = "val", tasks=CANONICAL, crop: int = 256,
                crops_per_photo: int = 1, resize_short: int = 512, seed: int = 0) -> list[SuiteImage]:
    """Deterministic degraded/clean crops of the ``split`` photos (see the module docstring).

    Crop ``k`` of a photo sits at the centre for ``k = 0`` and at a seeded position otherwise;
    a photo smaller than ``crop`` gives its largest centred square that is a multiple of 16; a
    photo that does not decode is left out with a warning (the others keep their crops).
    """
    images = []
    for pi, path in enumerate(list_photos(root, split)):
        try:
            photo = _load_resized(path, resize_short)
        except (OSError, ValueError, SyntaxError) as err:
            warnings.warn(f"left out unreadable {split} photo {path} ({' '.join(str(err).split())})", stacklevel=2)
            continue
        h, w = photo.shape[-2:]
        side = min(crop, (min(h, w) // 16) * 16)
        if side < 16:
            continue
        g = torch.Generator().manual_seed(item_seed(seed, pi, 2**30))
        for k in range(crops_per_photo):
            if k == 0:
                y, x = (h - side) // 2, (w - side) // 2
            else:
                y, x = (int(torch.randint(0, n - side + 1, (1,), generator=g)) for n in (h, w))
            clean = photo[..., y:y + side, x:x + side].contiguous()
            for ti, task in enumerate(tasks):
                tg = torch.Generator().manual_seed(item_seed(seed, pi * 1000 + k, CANONICAL.index(task) if task in CANONICAL else 100 + ti))
                degraded, params = degrade(clean, task, tg)
                images.append(SuiteImage(task, f"{path.stem}#{k}", degraded.clamp(0, 1), clean, params))
    return images


def psnr_batch(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W in [0, 1] -> B PSNRs in dB (images clipped to [0, 1]); fast torch version for logs."""
    mse = (pred.clamp(0, 1) - target).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)

