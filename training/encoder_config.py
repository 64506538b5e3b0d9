"""The encoder scripts' command line and the data keys they share.

    --config training/configs/encoder_offline.yaml epochs=5 encoder.backbone=clip

``--config FILE [key=value ...]`` is read by :mod:`training.config_files` into a frozen
dataclass; unknown keys are an error naming the known ones, values are checked against the
field types. :func:`run_command` is the ``main`` of ``train_encoder`` and ``evaluate_encoder``:
any configuration or data problem is one ``error:`` line on stderr and exit status 1.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from training.config_files import check_keys, coerce_fields, field_names, read_command_line

T = TypeVar("T")


@dataclass(frozen=True)
class EncoderData:
    """Degraded crops of the photos whose frozen-backbone features are cached
    (:func:`training.encoder_features.cached_features`); shared by training and evaluation."""

    photos: str = "data/photos"
    crops_per_class: int = 4
    val_crops_per_class: int = 4
    crop_sizes: tuple[int, ...] = (128, 192, 256, 320, 384, 512)
    min_short: int = 512                 # each photo is first downscaled to a short side drawn in
    max_short: int = 1024                # [min_short, max_short] (never upscaled)
    packages: tuple[str, ...] = ()       # only photos of these Debian packages (); () = every photo
    max_photos: int = 0                  # 0 = every photo of the split
    seed: int = 0
    cache_dir: str = "data/encoder_cache"
    threads: int = 2


def build(cls: type[T], data: dict[str, Any]) -> T:
    """``cls(**data)`` with one-line errors for unknown keys and values of the wrong type."""
    check_keys(data, field_names(cls), "config key")
    return cls(**coerce_fields(cls, data))


def load_config(cls: type[T], argv: list[str] | None, description: str = "", prog: str | None = None) -> T:
    """Parse ``--config FILE [key=value ...]`` into ``cls``."""
    return build(cls, read_command_line(argv, prog, description))


def run_command(cls: type[T], action: Callable[[T], Any], argv: list[str] | None, doc: str, prog: str) -> int:
    """Parse ``argv`` into ``cls`` and run ``action`` on it; a bad configuration, a missing file
    or unusable data is one ``error:`` line (exit status 1)."""
    try:
        action(load_config(cls, argv, description=doc.split("\n\n")[0], prog=prog))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
