"""Named VLU-Net configurations: ``create_model(name, **overrides)`` and ``list_models()``.

Every named variant is registered here and nowhere else.

* ``vlunet-paper``: the authors' defaults (dim 48, blocks 4/6/6/8, 4 refinement blocks,
  heads 1/2/4/8, de_dim 7): 35,353,028 parameters.
* ``vlunet-tiny``: the CPU default shipped with the app, sized so that a 512x512 photo
  restores in a second or two on a laptop CPU, encoder included (docs/benchmarks.md).
* ``vlunet-small``: between the two, for a GPU or a patient CPU.
"""
from __future__ import annotations

from dataclasses import replace

from .network import ConfigError, VLUNet, VLUNetConfig

MODELS: dict[str, VLUNetConfig] = {
    "vlunet-paper": VLUNetConfig(),
    "vlunet-small": VLUNetConfig(dim=24, num_blocks=(2, 3, 3, 4), num_refinement_blocks=2),
    # Full-resolution stages dominate the CPU cost, so the tiny model narrows level 1
    # (dim 12) and spends its extra blocks at the cheap deeper levels.
    "vlunet-tiny": VLUNetConfig(dim=12, num_blocks=(1, 1, 2, 4), num_refinement_blocks=1),
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(MODELS)


def model_config(name: str, **overrides) -> VLUNetConfig:
    """The registered config ``name`` with ``overrides`` applied (unknown keys are an error)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    base = MODELS[name]
    return VLUNetConfig.from_dict({**base.__dict__, **overrides}) if overrides else replace(base)


def create_model(name: str, **overrides) -> VLUNet:
    """A freshly initialised network of the registered configuration ``name``."""
    return VLUNet.from_config(model_config(name, **overrides))


__all__ = ["MODELS", "ConfigError", "create_model", "list_models", "model_config"]
