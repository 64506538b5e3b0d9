"""Adapter files: safetensors with the encoder config (json) in the metadata.

A file holds `image_adapter.*`, `text_adapter.*` and `class_embeddings` (7 x 512, the adapted
class prompt embeddings, so that classification needs no text tower at inference), with
metadata `format`, `config` (EncoderConfig json), `labels`, `sha256` (the digest of the
tensors, checked on load; files without it load unchecked) and, when trained here,
`training` (the training config and figures). The authors' adapter keys
(`model_degradation.ad_imageEncoder.adapter.N.*`, `ad_textEncoder`) convert through
`convert_authors_adapters`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..checkpoint import _atomic_save, verify_digest
from .config import EncoderConfig
from .errors import EncoderAssetMissingError, EncoderWeightsError

FORMAT = "vlunet-degradation-encoder/1"
_AUTHORS_KEY = re.compile(r"(?:^|\.)ad_(image|text)Encoder\.(adapter\.\d+\.(?:weight|bias))$")


def save_adapters(path: str | Path, state: dict[str, torch.Tensor], config: EncoderConfig,
                  labels: tuple[str, ...], extra: dict | None = None) -> Path:
    """Write adapter tensors, their config and their sha256 to `path` (safetensors, atomic)."""
    path = Path(path)
    metadata = {"format": FORMAT, "config": config.to_json(), "labels": json.dumps(list(labels))}
    if extra:
        metadata["training"] = json.dumps(extra, sort_keys=True)
    _atomic_save({k: v.detach().cpu().contiguous() for k, v in state.items()}, metadata, path)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of an adapter file (raises the same one-line errors as `load_adapters`)."""
    from safetensors import safe_open

    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise EncoderWeightsError(f"{path} is not a readable safetensors adapter file ({exc})") from None


def load_adapters(path: str | Path) -> tuple[EncoderConfig, dict[str, torch.Tensor], dict[str, str]]:
    """Read `path` -> (config, tensors, metadata); one-line errors for absent, corrupt, damaged
    (tensors that do not match their sha256) or foreign files."""
    metadata = read_metadata(path)
    if "config" not in metadata:
        raise EncoderWeightsError(f"{path} has no encoder config in its metadata (not a file written by save_adapters)")
    try:
        config = EncoderConfig.from_json(metadata["config"])
    except (ValueError, TypeError) as exc:
        raise EncoderWeightsError(f"{path} holds an invalid encoder config: {exc}") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise EncoderWeightsError(f"{path} is not a readable safetensors adapter file ({exc})") from None
    verify_digest(path, state, metadata, error=EncoderWeightsError)
    return config, state, metadata


def convert_authors_adapters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' adapter keys -> this project's (`image_adapter.adapter.N.*`, `text_adapter.*`).

    Accepts a Lightning `state_dict` (keys under `model_degradation.`) or an adapter-only dict;
    other keys (the network, CLIP itself) are ignored. Raises EncoderWeightsError when no
    adapter key is found.
    """
    out = {}
    for key, value in state.items():
        if m := _AUTHORS_KEY.search(key):
            out[f"{m.group(1)}_adapter.{m.group(2)}"] = value
    if not out:
        raise EncoderWeightsError("no authors' adapter keys (ad_imageEncoder.adapter.* / ad_textEncoder.adapter.*) found")
    return out


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise EncoderAssetMissingError(f"encoder adapter file {path} does not exist")
    return path
