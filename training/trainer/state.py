"""Resumable training state, written atomically; nothing is pickled.

One checkpoint is a folder ``<run>/checkpoints/step_<N>/`` holding

* ``model.safetensors`` (and ``ema.safetensors``): the network, written by
  :func:`training.trainer.models.save_network` (a VLU-Net file loads with ``core.load_model``);
* ``optimizer.safetensors``: every optimiser state tensor, keyed ``state.<param>.<name>``;
* ``state.json``: step, optimiser param groups, python/numpy RNG, elapsed time, config.

The folder is written under a temporary name and renamed, then ``<run>/latest.json`` is
replaced atomically; a run killed at any moment leaves the previous checkpoint intact.
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
from safetensors.torch import load_file, save_file

from .models import load_network, save_network


class ResumeError(ValueError):
    """A checkpoint that cannot be resumed (missing files, other configuration)."""


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
        save_file({**tensors, **rng_tensors}, str(tmp / "optimizer.safetensors"))
        state = {"step": step, "param_groups": opt["param_groups"], "rng": rng_json, **(extra or {})}
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _atomic_text(run_dir / "latest.json", json.dumps({"step": step, "checkpoint": str(final.relative_to(run_dir))}))
    for old in sorted(ckpt_root.glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder named by ``<run>/latest.json``, or None when the run has none."""
    pointer = run_dir / "latest.json"
    if not pointer.is_file():
        return None
    try:
        folder = run_dir / json.loads(pointer.read_text())["checkpoint"]
    except (ValueError, KeyError) as exc:
        raise ResumeError(f"{pointer} is unreadable ({exc})") from None
    if not (folder / "state.json").is_file():
        raise ResumeError(f"{pointer} names {folder}, which holds no state.json")
    return folder


@dataclass
class Restored:
    step: int
    state: dict


def load_checkpoint(folder: Path, model, optimizer, ema=None) -> Restored:
    """Load a checkpoint folder into ``model``/``optimizer``/``ema``; restores the RNGs."""
    state = json.loads((folder / "state.json").read_text())
    net = load_network(folder / "model.safetensors", device="cpu")
    target = getattr(model, "module", model)
    if type(net) is not type(target) or net.config != target.config:
        raise ResumeError(f"{folder} holds a different network ({type(net).__name__} {net.config}); "
                          "use another name or out_dir")
    device = next(target.parameters()).device
    target.load_state_dict(net.state_dict())
    if ema is not None:
        if not (folder / "ema.safetensors").is_file():
            raise ResumeError(f"{folder} has no EMA weights but this run keeps an EMA")
        ema.load_state_dict(load_network(folder / "ema.safetensors").state_dict())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value if name == "step" else value.to(device)
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    set_rng_state(state["rng"], tensors)
    return Restored(step=int(state["step"]), state=state)
