"""Our checkpoints: safetensors files that carry the network's config in their metadata.

A file holds the state dict of a :class:`VLUNet` and the metadata entries
``format = "vlunet"``, ``config`` (the :class:`VLUNetConfig` as JSON), free-form ``info``
(JSON: training steps, data, ...) and ``sha256``, the :func:`tensor_digest` of its tensors.
Loading recomputes the digest when the entry is present, so a copy whose tensor bytes were
altered (flipped bits, a partial overwrite) is an error instead of silently wrong weights;
files without it (older ones, the authors') load as before. Nothing here unpickles anything.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .network import ConfigError, VLUNet, VLUNetConfig

FORMAT = "vlunet"
DIGEST_KEY = "sha256"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or whose contents do not match the network."""


def load_state_strict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``model``; any missing, unexpected or mis-shaped key is one clear error."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            problems.append(f"{len(items)} {label} ({', '.join(items[:3])}{', ...' if len(items) > 3 else ''})")
    if problems:
        raise CheckpointError(f"{what} does not match the network: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)


def tensor_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) over ``tensors`` in sorted key order: each key, dtype, shape and raw bytes.

    The bytes are those of the contiguous CPU tensor, i.e. what safetensors writes, so the digest
    of the tensors saved equals that of the tensors loaded back from an intact file.
    """
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().cpu().contiguous()
        digest.update(json.dumps([key, str(tensor.dtype), list(tensor.shape)]).encode() + b"\n")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def with_digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``metadata`` holding the :func:`tensor_digest` of ``tensors`` under ``sha256``."""
    return {**(metadata or {}), DIGEST_KEY: tensor_digest(tensors)}


def verify_digest(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
                  error: type[Exception] = CheckpointError) -> None:
    """Raise ``error`` (one line naming ``path``) unless ``tensors`` match the digest in ``metadata``.

    A file whose metadata holds no ``sha256`` entry (written before digests, or by others) passes.
    """
    expected = metadata.get(DIGEST_KEY)
    if expected is not None and tensor_digest(tensors) != expected:
        raise error(f"{path}: its tensors do not match the sha256 checksum written with it "
                    "(a damaged copy: flipped bits or a partial overwrite)")


def _atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    """Write ``tensors`` to ``path`` through a temporary file; the metadata gains their digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=with_digest(tensors, metadata))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it private; a saved file gets the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process umask: read from /proc on Linux (no side effect); elsewhere set and restored,
    which a thread creating a file in that instant could observe."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_model(model: VLUNet, path: str | os.PathLike, info: dict | None = None) -> Path:
    """Write ``model`` (weights + config) to ``path`` atomically; returns the path."""
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "config": model.config.to_json(), "info": json.dumps(info or {})}
    _atomic_save(tensors, metadata, path)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a safetensors file, with a clear error for anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> VLUNet:
    """Rebuild the network from a checkpoint written by :func:`save_model`; eval mode.

    The tensors are checked against the file's ``sha256`` entry when it has one (:func:`verify_digest`).
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path} is not a VLU-Net checkpoint (metadata format={meta.get('format')!r}); "
                              "for the authors' weights use core.load_official")
    try:
        config = VLUNetConfig.from_json(meta["config"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path} has a bad config: {exc}") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt: {exc}") from None
    verify_digest(path, state, meta)
    model = VLUNet.from_config(config)
    load_state_strict(model, state, what=str(path))
    return model.to(device or "cpu").eval()


def checkpoint_info(path: str | os.PathLike) -> dict:
    """The ``info`` dict stored with a checkpoint (training steps, data, ...)."""
    try:
        return json.loads(read_metadata(path).get("info", "{}"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} has unreadable info metadata: {exc}") from None
