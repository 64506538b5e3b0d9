"""Baselines and comparison methods for the restoration table.

* :mod:`.promptir` -- baseline (b): an end-to-end Restormer/PromptIR-style network of the
  same parameter count as ``vlunet-tiny``, trained by the same trainer.
* :mod:`.classical` -- (c): CBM3D, non-local means, Wiener and Richardson-Lucy deconvolution
  (given the true kernel), CLAHE and gamma, dark channel prior.
"""
from __future__ import annotations

from .promptir import PromptIR, PromptIRConfig

# name -> constructor keys, each sized to the parameter count of a VLU-Net configuration:
# "promptir-tiny" to vlunet-tiny (+0.3 %); "promptir-paper" (PromptIR's published dim 48,
# blocks 4/6/6/8, 4 refinement blocks, prompt channels narrowed at the last level) to
# vlunet-paper (35,375,824 vs 35,353,028 parameters, +0.06 %).
BASELINES: dict[str, dict] = {
    "promptir-tiny": dict(dim=12, num_blocks=(1, 1, 2, 4), num_refinement_blocks=1, prompt_dim=(16, 32, 80)),
    "promptir-paper": dict(dim=48, num_blocks=(4, 6, 6, 8), num_refinement_blocks=4, prompt_dim=(64, 128, 224)),
}


def list_baselines() -> list[str]:
    return sorted(BASELINES)


def create_baseline(name: str, **overrides) -> PromptIR:
    """A freshly initialised baseline network ``name`` with constructor ``overrides``."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; registered: {', '.join(list_baselines())}")
    return PromptIR(**{**BASELINES[name], **overrides})


__all__ = ["BASELINES", "PromptIR", "PromptIRConfig", "create_baseline", "list_baselines"]
