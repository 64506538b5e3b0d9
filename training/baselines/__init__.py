"""Baselines and comparison methods for the restoration table (issue 5).

* :mod:`.promptir` -- baseline (b): an end-to-end Restormer/PromptIR-style network of the
  same parameter count as ``vlunet-tiny``, trained by the same trainer.
* :mod:`.classical` -- (c): CBM3D, non-local means, Wiener and Richardson-Lucy deconvolution
  (given the true kernel), CLAHE and gamma, dark channel prior.
"""
from __future__ import annotations

from .promptir import PromptIR, PromptIRConfig

# name -> constructor keys; "promptir-tiny" has the parameter count of vlunet-tiny (+0.3 %)
BASELINES: dict[str, dict] = {
    "promptir-tiny": dict(dim=12, num_blocks=(1, 1, 2, 4), num_refinement_blocks=1, prompt_dim=(16, 32, 80)),
}


def list_baselines() -> list[str]:
    return sorted(BASELINES)


def create_baseline(name: str, **overrides) -> PromptIR:
    """A freshly initialised baseline network ``name`` with constructor ``overrides``."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; registered: {', '.join(list_baselines())}")
    return PromptIR(**{**BASELINES[name], **overrides})


__all__ = ["BASELINES", "PromptIR", "PromptIRConfig", "create_baseline", "list_baselines"]
