"""One unfolding stage of VLU-Net: a gradient step, then a proximal step (Sec. 3.1, Eq. 3-4).

    z^(k) = x^(k-1) - r * PhiT(Phi(x^(k-1), d_I) - y)      D-GDM (gradient step)
    x^(k) = prox(z^(k))                                      PMM (Restormer blocks)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import TransformerBlock
from .gdm import DGDM


@dataclass
class StageTrace:
    """What one stage did, for inspection (tensors detached, on the model's device).

    ``after_gradient``, ``after_proximal`` and ``correction`` are B x C x H x W feature maps at
    the stage's resolution; ``weights`` is B x de_dim (the retrieval weights over the stage's
    degradation key database); ``step`` the learned step size r.
    """

    name: str
    level: int
    resolution: tuple[int, int]
    after_gradient: torch.Tensor
    after_proximal: torch.Tensor
    correction: torch.Tensor
    weights: torch.Tensor
    step: float


@dataclass(frozen=True)
class StageSpec:
    """Shape of one stage: its name, feature level (1 = full resolution), channels, blocks,
    heads of the proximal Restormer blocks, and its index for the key database (the authors'
    ``stage`` argument, 1..4)."""

    name: str
    level: int
    channels: int
    num_blocks: int
    heads: int
    key_stage: int


class UnfoldingStage(nn.Module):
    """D-GDM followed by ``num_blocks`` Restormer blocks (the proximal mapping module)."""

    def __init__(self, spec: StageSpec, de_dim: int, ffn_expansion_factor: float, bias: bool,
                 layernorm_type: str, degradation_dim: int, gdm_heads: int, key_base: int):
        super().__init__()
        self.spec = spec
        dim = spec.channels
        key_channels = max(1, int(dim // 10 * spec.key_stage))
        self.gdm = DGDM(dim, de_dim, key_channels, key_base // spec.key_stage,
                        degradation_dim, gdm_heads, bias)
        self.prox = nn.Sequential(*[
            TransformerBlock(dim, spec.heads, ffn_expansion_factor, bias, layernorm_type)
            for _ in range(spec.num_blocks)])

    def forward(self, x: torch.Tensor, y: torch.Tensor, d: torch.Tensor | None,
                trace: list[StageTrace] | None = None) -> torch.Tensor:
        """x, y: B x C x H x W; d: B x degradation_dim or None. Appends a StageTrace to ``trace``."""
        step = self.gdm(x, y, d)
        out = self.prox(step.z)
        if trace is not None:
            trace.append(StageTrace(
                name=self.spec.name, level=self.spec.level, resolution=tuple(x.shape[-2:]),
                after_gradient=step.z.detach(), after_proximal=out.detach(),
                correction=step.correction.detach(), weights=step.weights.detach(),
                step=float(self.gdm.step.detach())))
        return out
