"""Networks the trainer drives, by name, and their weight files (safetensors + config metadata).

A VLU-Net is written with :func:`core.save_model` (loadable by ``core.load_model`` and the
app); a baseline is written with ``format = "restoration-baseline"``, its registered name
and its constructor config. :func:`load_network` reads either. Both carry the ``sha256`` of
their tensors, checked on load (:func:`core.checkpoint.verify_digest`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

import core
from core.checkpoint import CheckpointError, _atomic_save, load_state_strict, read_metadata, verify_digest
from training.baselines import BASELINES, PromptIR, create_baseline

BASELINE_FORMAT = "restoration-baseline"


def build_network(name: str, overrides: dict | None = None) -> torch.nn.Module:
    """A fresh network: a registered VLU-Net (``core.list_models()``) or baseline."""
    overrides = dict(overrides or {})
    if name in core.list_models():
        return core.create_model(name, **overrides)
    if name in BASELINES:
        return create_baseline(name, **overrides)
    raise ValueError(f"unknown model {name!r}; VLU-Nets: {', '.join(core.list_models())}; "
                     f"baselines: {', '.join(sorted(BASELINES))}")


def uses_guidance(network: torch.nn.Module) -> bool:
    """Whether the network reads the degradation vector (baselines ignore it)."""
    return isinstance(network, core.VLUNet)


def save_network(network: torch.nn.Module, path: str | os.PathLike, info: dict | None = None) -> Path:
    """Write weights + config to ``path`` (safetensors, atomic)."""
    if isinstance(network, core.VLUNet):
        return core.save_model(network, path, info=info)
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    meta = {"format": BASELINE_FORMAT, "config": network.config.to_json(), "info": json.dumps(info or {})}
    _atomic_save(tensors, meta, path)
    return path


def load_network(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Read a file written by :func:`save_network` (VLU-Net or baseline); eval mode."""
    meta = read_metadata(path)
    if meta.get("format") != BASELINE_FORMAT:
        return core.load_model(path, device)
    network = PromptIR(**json.loads(meta["config"]))
    state = load_file(str(path))
    verify_digest(path, state, meta)
    load_state_strict(network, state, what=str(path))
    return network.to(device).eval()


def count_parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


__all__ = ["CheckpointError", "build_network", "count_parameters", "load_network", "save_network", "uses_guidance"]
