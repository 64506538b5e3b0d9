"""The 3-task and 5-task suites (paper Sec. 4.1) over one data root.

Expected layout (folder names are case-insensitive; each dataset folder accepts the
aliases listed in :mod:`training.data.datasets`)::

    <root>/Train/Denoise/            BSD400 + WED clean images (noise added on the fly)
    <root>/Train/Derain/             Rain100L train: rainy/ + gt/
    <root>/Train/Dehaze/             RESIDE OTS: synthetic/ (or hazy/) + original/ (or clear/)
    <root>/Train/Deblur/             GoPro train: <scene>/blur + <scene>/sharp   (5-task)
    <root>/Train/Lowlight/           LOL our485: low/ + high/                    (5-task)
    <root>/Test/denoise/CBSD68/      clean images (+ optional noisy15/ noisy25/ noisy50/)
    <root>/Test/derain/Rain100L/     input/ + target/
    <root>/Test/dehaze/SOTS/         hazy/ + gt/
    <root>/Test/deblur/GoPro/        <scene>/blur + <scene>/sharp                (5-task)
    <root>/Test/lowlight/LOL/        low/ + high/                                (5-task)
"""

from __future__ import annotations

import pathlib

from core.degradations import CANONICAL

from .datasets import cbsd68_pairs, denoise_pairs, gopro_pairs, lol_pairs, rain100l_pairs, reside_pairs
from .layout import DatasetLayoutError, Pair

SUITES = ("3task", "5task")
#: Training repeat factors that balance the tasks, as the authors do (noise levels and
#: Rain100L, the small sets, are repeated).
DEFAULT_REPEATS = {"noise_15": 1, "noise_25": 1, "noise_50": 1, "rain": 120, "haze": 1, "blur": 5, "low_light": 20}

_TRAIN = {"noise": ("Denoise", denoise_pairs), "rain": ("Derain", rain100l_pairs), "haze": ("Dehaze", reside_pairs),
          "blur": ("Deblur", gopro_pairs), "low_light": ("Lowlight", lol_pairs)}
#: Test-set name (an :func:`eval_sets` key) -> the degradation class it holds.
SET_NAMES = {"rain": "rain100l", "haze": "sots_outdoor", "blur": "gopro", "low_light": "lol"}
_SET_CLASSES = {name: task for task, name in SET_NAMES.items()}
_TEST = {"rain": ("derain/Rain100L", rain100l_pairs), "haze": ("dehaze/SOTS", reside_pairs),
         "blur": ("deblur/GoPro", gopro_pairs), "low_light": ("lowlight/LOL", lol_pairs)}


def _tasks(suite: str) -> tuple[str, ...]:
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}, got {suite!r}")
    return ("noise", "rain", "haze") + (("blur", "low_light") if suite == "5task" else ())


def _sub(root: pathlib.Path, rel: str) -> pathlib.Path:
    """``root/rel`` matching each component case-insensitively (the literal path if absent)."""
    path = root
    for part in rel.split("/"):
        match = [p for p in path.iterdir() if p.name.lower() == part.lower()] if path.is_dir() else []
        path = match[0] if match else path / part
    return path


def train_pairs(root: str | pathlib.Path, suite: str = "3task", sigmas=(15, 25, 50)) -> dict[str, list[Pair]]:
    """Training pairs per task name (``noise_15`` ... ``low_light``) of ``suite``."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"data root {root} not found; expected {root}/Train/... and {root}/Test/...")
    out: dict[str, list[Pair]] = {}
    for task in _tasks(suite):
        folder, fn = _TRAIN[task]
        pairs = fn(_sub(root, f"Train/{folder}"), sigmas) if task == "noise" else fn(_sub(root, f"Train/{folder}"))
        for p in pairs:
            out.setdefault(p.task, []).append(p)
    return out


def eval_sets(root: str | pathlib.Path, suite: str = "3task") -> dict[str, list[Pair]]:
    """Evaluation sets of ``suite``: CBSD68 sigma 15/25/50 (3-task) or 25 (5-task), then
    Rain100L, SOTS outdoor, and for 5-task GoPro and LOL. Keys like ``cbsd68_25``, ``rain100l``."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"data root {root} not found; expected {root}/Test/...")
    out: dict[str, list[Pair]] = {}
    for s in ((15, 25, 50) if suite == "3task" else (25,)):
        out[f"cbsd68_{s}"] = cbsd68_pairs(_sub(root, "Test/denoise/CBSD68"), s)
    for task in _tasks(suite)[1:]:
        folder, fn = _TEST[task]
        out[SET_NAMES[task]] = fn(_sub(root, f"Test/{folder}"))
    return out


def set_class(name: str) -> str | None:
    """The degradation class (a canonical name) of a test set or task ``name``: ``cbsd68_25`` ->
    ``noise_25``, ``gopro`` -> ``blur``, ``rain`` -> ``rain``; None for anything else."""
    if name in CANONICAL:
        return name
    noise = f"noise_{name.removeprefix('cbsd68_')}"
    if name.startswith("cbsd68_") and noise in CANONICAL:
        return noise
    return _SET_CLASSES.get(name)
