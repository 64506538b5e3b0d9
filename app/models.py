"""The models the page offers: the shipped weights, ``VLUNET_MODEL`` and the authors' release.

Only what this list names can be loaded through the page or its API: a client cannot make the
server open a file of its choosing.
"""
from __future__ import annotations

from pathlib import Path

import core
from core.official import is_release
from core.official.encoder import parse_clip_config

from .config import AppConfig


def default_model(config: AppConfig) -> str:
    """The model restored with when none is chosen: ``config.model``, else the shipped default."""
    return config.model or core.pretrained.DEFAULT


def _official_files(where: str | None) -> list[str]:
    if not where:
        return []
    path = Path(where)
    if path.is_dir():
        return [str(p) for p in sorted(path.iterdir())
                if p.suffix in (".ckpt", ".safetensors") and is_release(p)]
    return [str(path)] if path.is_file() else []


def model_choices(config: AppConfig) -> list[tuple[str, str]]:
    """(label, value) of every model found: the default first, then the shipped all-in-one weights
    present on disk (their one-by-one specialists come with them), then the authors' checkpoints of
    ``config.official``."""
    shipped = [n for n in core.pretrained.all_in_one_names()
               if (core.pretrained.ASSETS / core.pretrained.PRETRAINED[n].file).is_file()]
    values = list(dict.fromkeys([default_model(config), *shipped, *_official_files(config.official)]))
    return [(label(v), v) for v in values]


def label(value: str) -> str:
    """How the page names a model: shipped names as they are, files by name and owner."""
    if value in core.list_pretrained():
        return value
    owner = "authors'" if is_release(value) else "checkpoint"
    return f"{Path(value).name} ({owner})"


def check_choice(config: AppConfig, model: str | None) -> str:
    """``model`` if the page offers it (None or "": the default); else a one-line ValueError."""
    model = str(model or "").strip() or default_model(config)
    values = [v for _, v in model_choices(config)]
    if model not in values:
        raise ValueError(f"model must be one of {', '.join(label(v) for v in values)}; got {model[:60]!r}")
    return model


def clip_config(config: AppConfig) -> dict | None:
    """``config.clip_config`` (VLUNET_CLIP_CONFIG: JSON text or file) parsed; None: ViT-B-32."""
    return parse_clip_config(config.clip_config)
