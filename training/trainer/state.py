"""Resumable training state, written atomically; nothing is pickled.

One checkpoint is a folder ``<run>/checkpoints/step_<N>/`` holding

* ``model.safetensors`` (and ``ema.safetensors``): the network, written by
  :func:`training.trainer.models.save_network` (a VLU-Net file loads with ``core.load_model``);
* ``optimizer.safetensors``: every optimiser state tensor, keyed ``state.<param>.<name>``;
* ``state.json``: step, optimiser param groups, python/numpy RNG, elapsed time, config.

Every safetensors file carries the ``sha256`` of its tensors in its metadata
(:func:`core.checkpoint.with_digest`), checked whenever it is read.

The folder is written under a temporary name (``checkpoints/.step_<N>.*``), its files are
flushed to disk, it is renamed, then ``<run>/latest.json`` is replaced atomically: a run killed
at any moment leaves ``latest.json`` naming the previous complete checkpoint (the next save
removes the half-written temporary folder). :func:`resume_point` checks that every file of the
checkpoint to resume from can be read and matches its checksum before anything is loaded; an
unreadable or damaged one is one :class:`CorruptCheckpointError` line naming the file and the
newest intact other checkpoint (``resume_from=`` resumes from it; see
:class:`training.trainer.TrainConfig`).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core.checkpoint import verify_digest, with_digest

from .models import load_network, save_network


class ResumeError(ValueError):
    """A checkpoint that cannot be resumed (missing files, other configuration)."""


class CorruptCheckpointError(ResumeError):
    """A checkpoint file that cannot be read (truncated, missing or damaged safetensors, garbage state.json)."""


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def rng_state() -> tuple[dict, dict[str, torch.Tensor]]:
    """(JSON part, tensor part) of the python, numpy and torch generators."""
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return ({"python": [py[0], list(py[1]), py[2]],
             "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}, tensors)


def set_rng_state(state: dict, tensors: dict[str, torch.Tensor]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def save_checkpoint(run_dir: Path, step: int, model, optimizer, ema=None, extra: dict | None = None,
                    keep: int = 3, info: dict | None = None) -> Path:
    """Write the state after ``step`` optimiser steps; keep the newest ``keep`` checkpoints."""
    ckpt_root = run_dir / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=ckpt_root, prefix=f".step_{step:08d}."))
    try:
        save_network(model, tmp / "model.safetensors", info=info)
        if ema is not None:
            save_network(ema, tmp / "ema.safetensors", info=info)
        opt = optimizer.state_dict()
        tensors = {f"state.{i}.{k}": v.detach().cpu().contiguous()
                   for i, s in opt["state"].items() for k, v in s.items() if torch.is_tensor(v)}
        rng_json, rng_tensors = rng_state()
        tensors.update(rng_tensors)
        save_file(tensors, str(tmp / "optimizer.safetensors"), metadata=with_digest(tensors))
        state = {"step": step, "param_groups": opt["param_groups"], "rng": rng_json, **(extra or {})}
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        for file in tmp.iterdir():
            _fsync(file)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync(ckpt_root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _atomic_text(run_dir / "latest.json", json.dumps({"step": step, "checkpoint": str(final.relative_to(run_dir))}))
    # Prune up to this step only: later folders (left when a run resumes from an earlier checkpoint,
    # e.g. past a corrupt one) are never counted among the newest; also drop interrupted saves.
    done = sorted(f for f in ckpt_root.glob("step_*") if f.name <= final.name)
    for old in [*done[:-keep], *ckpt_root.glob(".step_*")]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder named by ``<run>/latest.json``, or None when the run has none."""
    pointer = run_dir / "latest.json"
    if not pointer.is_file():
        return None
    try:
        folder = run_dir / json.loads(pointer.read_text())["checkpoint"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpointError(f"{pointer} is unreadable ({type(exc).__name__}: {exc})") from None
    if not (folder / "state.json").is_file():
        raise CorruptCheckpointError(f"{pointer} names {folder}, which holds no state.json")
    return folder


def check_checkpoint(folder: Path) -> None:
    """Raise :class:`CorruptCheckpointError` naming the first file of ``folder`` that cannot be read.

    Reads ``state.json`` and every safetensors file (safetensors refuses a header that does not
    cover the file, so a truncated file is caught) and checks its tensors against the ``sha256``
    written with them (so flipped bits or a partial overwrite are caught too).
    """
    path = folder / "state.json"
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not {"step", "param_groups", "rng"} <= set(state):
            raise ValueError("not a training state (needs step, param_groups, rng)")
        int(state["step"])
    except (OSError, ValueError, TypeError) as exc:
        raise CorruptCheckpointError(f"{path} is unreadable ({_reason(exc)})") from None
    for name in ("model", "optimizer", "ema"):
        path = folder / f"{name}.safetensors"
        if name == "ema" and not path.exists():
            continue                                      # runs without EMA write none
        tensors = verified_tensors(path)
        if name == "optimizer" and "rng.torch" not in tensors:
            raise CorruptCheckpointError(f"{path} is unreadable (no rng.torch tensor)")


def verified_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, checked against the ``sha256`` in its metadata (when it has
    one); an unreadable or damaged file is one :class:`CorruptCheckpointError` line naming it."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (OSError, ValueError, SafetensorError) as exc:
        raise CorruptCheckpointError(f"{path} is unreadable ({_reason(exc)})") from None
    verify_digest(path, tensors, metadata, error=CorruptCheckpointError)
    return tensors


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def intact_checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint folders that :func:`check_checkpoint` accepts, newest first."""
    found = []
    for folder in sorted((run_dir / "checkpoints").glob("step_*"), reverse=True):
        try:
            check_checkpoint(folder)
        except CorruptCheckpointError:
            continue
        found.append(folder)
    return found


def resume_point(run_dir: Path, resume_from: str | None = None) -> Path | None:
    """The checkpoint folder to resume from: ``resume_from`` (a folder, or a path relative to
    ``run_dir``) or the one named by ``latest.json``; None for a new run.

    Every file is checked first (:func:`check_checkpoint`); an unreadable checkpoint is one
    :class:`CorruptCheckpointError` line naming the file and the newest intact other checkpoint
    of the run, with the ``resume_from=`` setting that resumes from it. Nothing is written.
    """
    folder = None
    try:
        if resume_from is not None:
            folder = Path(resume_from)
            if not folder.is_dir() and (run_dir / folder).is_dir():
                folder = run_dir / folder
            if not folder.is_dir():
                raise CorruptCheckpointError(f"resume_from: {resume_from} is not a checkpoint folder "
                                             f"(nor is {run_dir / resume_from})")
        else:
            folder = latest_checkpoint(run_dir)
            if folder is None:
                return None
        check_checkpoint(folder)
    except CorruptCheckpointError as exc:
        others = [f for f in intact_checkpoints(run_dir) if folder is None or f.resolve() != folder.resolve()]
        hint = (f"; {others[0]} is intact: add resume_from={others[0]} to resume from it" if others else
                "; the run has no intact checkpoint: start over with resume=false (or another name)")
        raise CorruptCheckpointError(f"{exc}{hint}") from None
    return folder


def load_same_network(path: Path, target, what: str, hint: str = ""):
    """The network stored at ``path``, on the CPU; ResumeError naming ``what`` unless it has the
    class and configuration of ``target`` (so its weights fit ``target`` key for key)."""
    net = load_network(path, device="cpu")
    if type(net) is not type(target) or net.config != target.config:
        raise ResumeError(f"{what} holds a different network ({type(net).__name__} {net.config})"
                          + (f"; {hint}" if hint else ""))
    return net


@dataclass
class Restored:
    step: int
    state: dict


def load_checkpoint(folder: Path, model, optimizer, ema=None) -> Restored:
    """Load a checkpoint folder into ``model``/``optimizer``/``ema``; restores the RNGs."""
    state = json.loads((folder / "state.json").read_text())
    target = getattr(model, "module", model)
    net = load_same_network(folder / "model.safetensors", target, str(folder), "use another name or out_dir")
    device = next(target.parameters()).device
    target.load_state_dict(net.state_dict())
    if ema is not None:
        if not (folder / "ema.safetensors").is_file():
            raise ResumeError(f"{folder} has no EMA weights but this run keeps an EMA")
        ema.load_state_dict(load_network(folder / "ema.safetensors").state_dict())
    tensors = verified_tensors(folder / "optimizer.safetensors")
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    try:
        optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    except ValueError as exc:   # e.g. another number of parameter groups (retrieval_lr_scale)
        raise ResumeError(f"{folder}: its optimiser state does not fit this run ({exc}); "
                          "resume with the configuration it was saved with, or start a new run") from None
    set_rng_state(state["rng"], tensors)
    return Restored(step=int(state["step"]), state=state)
