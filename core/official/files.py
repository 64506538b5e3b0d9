"""Reading the authors' release as it is distributed, without unpickling anything.

Their ``pretrained_ckpt/`` folder holds ``3task_vlunet.ckpt`` (the default of their
``test.py``), ``5task_vlunet.ckpt`` and ``clip_tuned.pth``. A ``.ckpt`` is a PyTorch Lightning
checkpoint whose ``state_dict`` holds

* the network under ``net.``;
* the adapters under ``model_degradation.ad_imageEncoder.adapter.*`` / ``ad_textEncoder.adapter.*``;
* the frozen CLIP under ``model_degradation.ad_imageEncoder.clip_model.*`` and again under
  ``model_degradation.ad_textEncoder.clip_model.*`` (the same module, reachable twice).

``clip_tuned.pth`` holds the adapters alone, under ``learnable_params``. ``.pth`` and
``.safetensors`` state dicts (for example one written by ``python -m core.official convert``)
are read the same way. ``torch.load`` is only ever called with ``weights_only=True`` (and memory
mapped, so the second copy of CLIP is never read into memory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from .errors import OfficialCheckpointError

DEFAULT_CHECKPOINT = "3task_vlunet.ckpt"   # the default --pretrained_ckpt_path of their test.py
ADAPTERS_FILE = "clip_tuned.pth"
CLIP_PREFIXES = ("model_degradation.ad_imageEncoder.clip_model.", "model_degradation.ad_textEncoder.clip_model.")
ADAPTER_PREFIX = "model_degradation."
SUFFIXES = (".ckpt", ".pth", ".pt", ".safetensors")


@dataclass
class OfficialParts:
    """An authors' checkpoint split by owner (each with the owner's own keys).

    net: the network's state (their names, no ``net.`` prefix).
    clip: the frozen CLIP's state (open_clip names), stored once; None when the file holds none.
    adapters: adapter tensors under their ``ad_imageEncoder.adapter.*`` / ``ad_textEncoder.adapter.*``
        keys; None when the file holds none.
    path: the file read (None for a dict).
    """

    net: dict[str, torch.Tensor]
    clip: dict[str, torch.Tensor] | None
    adapters: dict[str, torch.Tensor] | None
    path: Path | None = None


def convert_hint(path: Path) -> str:
    """The command that rewrites ``path`` as safetensors (run only where the file is trusted)."""
    return (f"convert it once, in an environment you trust, with "
            f"`python -m core.official convert {path} {path.with_suffix('.safetensors')} --trust-pickle`")


def load_tensors(path: str | os.PathLike) -> dict:
    """The top-level mapping of a checkpoint file, read without unpickling code.

    Raises FileNotFoundError when absent, :class:`OfficialCheckpointError` (one line, with the
    conversion command) when the file cannot be read with ``weights_only=True``.
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:   # a legacy (non-zip) file cannot be memory mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, or pickled objects refused by weights_only
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise OfficialCheckpointError(f"cannot read checkpoint {path} with weights_only=True "
                                      f"({type(exc).__name__}: {first[:160]}); {convert_hint(path)}") from None


def flat_state(source) -> dict[str, torch.Tensor]:
    """A path or mapping -> its flat state dict (a Lightning ``state_dict`` unwrapped, ``module.``
    stripped); non-tensor values are an :class:`OfficialCheckpointError`."""
    state = dict(source) if isinstance(source, Mapping) else load_tensors(source)
    for wrapper in ("state_dict", "learnable_params"):
        if wrapper in state and isinstance(state[wrapper], Mapping):
            state = dict(state[wrapper])
            break
    state = {k.removeprefix("module."): v for k, v in state.items()}
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise OfficialCheckpointError(f"the checkpoint's state dict holds values that are not tensors: {bad[:3]}")
    return state


def split_parts(state: Mapping[str, torch.Tensor]) -> OfficialParts:
    """Split a flat authors' state into network, CLIP (the first of its two copies) and adapters.

    A bare network state dict (no ``net.`` prefix, no ``model_degradation.``) is all network.
    """
    if any(k.startswith("net.") for k in state):
        net = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    else:
        net = {k: v for k, v in state.items() if not k.startswith(ADAPTER_PREFIX)}
    clip = None
    for prefix in CLIP_PREFIXES:
        found = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if found:
            clip = found
            break
    adapters = {k[len(ADAPTER_PREFIX):] if k.startswith(ADAPTER_PREFIX) else k: v for k, v in state.items()
                if ".adapter." in k and "clip_model." not in k}
    return OfficialParts(net, clip, adapters or None)


def read_parts(source) -> OfficialParts:
    """:func:`split_parts` of a checkpoint path or mapping."""
    parts = split_parts(flat_state(source))
    if not isinstance(source, Mapping):
        parts.path = Path(os.fspath(source))
    return parts


def read_state_dict(source) -> dict[str, torch.Tensor]:
    """The authors' network state (their keys) from a path (.ckpt / .pth / .pt / .safetensors) or a dict."""
    return read_parts(source).net


def resolve_release(path: str | os.PathLike) -> Path:
    """A checkpoint file, or the authors' ``pretrained_ckpt/`` folder -> the network checkpoint.

    In a folder: their default ``3task_vlunet.ckpt``, else its only ``.ckpt``; otherwise a
    one-line error listing what is there.
    """
    path = Path(os.fspath(path))
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no authors' checkpoint or folder at {path}")
    if (path / DEFAULT_CHECKPOINT).is_file():
        return path / DEFAULT_CHECKPOINT
    found = sorted(p for p in path.iterdir() if p.suffix == ".ckpt")
    if len(found) == 1:
        return found[0]
    listed = ", ".join(p.name for p in found) or "no .ckpt file"
    raise FileNotFoundError(f"{path} holds {listed}; name the checkpoint to load (e.g. {path / DEFAULT_CHECKPOINT})")


def adapters_beside(checkpoint: Path | None) -> Path | None:
    """``clip_tuned.pth`` in the checkpoint's folder, if there."""
    if checkpoint is None:
        return None
    candidate = checkpoint.parent / ADAPTERS_FILE
    return candidate if candidate.is_file() else None


def is_release(path: str | os.PathLike) -> bool:
    """Whether ``path`` is the authors' release rather than one of this project's weight files:
    a folder, a ``.ckpt`` / ``.pth`` / ``.pt`` file, or a safetensors file holding ``net.*`` keys."""
    path = Path(os.fspath(path))
    if path.is_dir() or path.suffix in (".ckpt", ".pth", ".pt"):
        return True
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as handle:
            return any(k.startswith("net.") for k in handle.keys())
    except Exception:  # unreadable: let the loader that is tried next say why
        return False
