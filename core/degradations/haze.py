"""Haze by the atmospheric scattering model (dehazing task: RESIDE OTS / SOTS outdoor).

``I = J t + A (1 - t)``, ``t = exp(-beta d)``, with a depth proxy d in [d_near, 1] built
from three cues, weighted per image:

- a vertical gradient: near at the bottom, far at the ``horizon`` row and above (outdoor
  scenes, as in OTS);
- a smooth random field (uneven terrain and objects);
- an image cue: bright, unsaturated regions (sky, distant walls) are far,
  blurred so that the haze follows regions rather than edges.

Depth is normalised to [0, 1]; ``beta`` is per unit of that depth. The defaults give
far transmissions of about 0.14-0.55 and near ones of 0.7-0.95, and an airlight of 0.75-1.0
with a slight per-channel tint, like the RESIDE outdoor sets (A in [0.8, 1], beta in
[0.04, 0.2] with depths of tens of metres).
"""

from __future__ import annotations

import dataclasses

import torch

from .base import Params, RangeConfig, check_batch, check_image, seeds, uniform
from .filters import filter2d, gaussian_kernels, odd_size, smooth_field


@dataclasses.dataclass(frozen=True)
class HazeConfig(RangeConfig):
    beta: tuple[float, float] = (0.6, 2.0)
    airlight: tuple[float, float] = (0.75, 1.0)
    tint: float = 0.04
    near: tuple[float, float] = (0.05, 0.25)
    horizon: tuple[float, float] = (0.25, 0.6)


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class HazeParams(Params):
    """beta (B,); airlight (B, 3) RGB; depth_weights (B, 3): vertical, random, image cues
    (sum 1); near (B,): depth at the nearest point; horizon (B,): row of the horizon as a
    fraction of the height from the top."""

    beta: torch.Tensor
    airlight: torch.Tensor
    depth_weights: torch.Tensor
    near: torch.Tensor
    horizon: torch.Tensor


def sample_haze(generator: torch.Generator, batch_size: int, config: HazeConfig = HazeConfig()) -> HazeParams:
    a = uniform(generator, batch_size, *config.airlight)
    tint = uniform(generator, batch_size, -config.tint, config.tint, k=3)
    w = -torch.log(torch.rand((batch_size, 3), generator=generator).clamp_min(1e-6))  # Dirichlet(1,1,1)
    w = w * torch.tensor([1.5, 1.0, 1.0])  # favour the vertical cue a little
    return HazeParams(seed=seeds(generator, batch_size), beta=uniform(generator, batch_size, *config.beta),
                      airlight=(a[:, None] + tint).clamp(0.0, 1.0), depth_weights=w / w.sum(1, keepdim=True),
                      near=uniform(generator, batch_size, *config.near),
                      horizon=uniform(generator, batch_size, *config.horizon))


def depth_map(clean: torch.Tensor, p: HazeParams) -> torch.Tensor:
    """Depth proxy in [near, 1], B x 1 x H x W (1 = farthest)."""
    b, _, h, w = clean.shape
    rows = torch.linspace(0.0, 1.0, h, device=clean.device)[None, :, None]  # 0 top, 1 bottom
    hz = p.horizon.to(clean)[:, None, None]
    vertical = (1.0 - ((rows - hz) / (1.0 - hz)).clamp(0.0, 1.0)).expand(b, h, w)[:, None]
    field = smooth_field(p.seed, h, w, cells=3).to(clean)
    mx, mn = clean.amax(1, keepdim=True), clean.amin(1, keepdim=True)
    cue = (0.5 * (mx + mn)) * (1.0 - (mx - mn))  # lightness x (1 - chroma)
    sigma = torch.full((b,), max(h, w) / 24.0)
    cue = filter2d(cue, gaussian_kernels(sigma, odd_size(6 * float(sigma[0]))), mode="reflect")
    lo, hi = cue.amin(dim=(-2, -1), keepdim=True), cue.amax(dim=(-2, -1), keepdim=True)
    cue = (cue - lo) / (hi - lo).clamp_min(1e-6)
    wts = p.depth_weights.to(clean)
    d = wts[:, 0, None, None, None] * vertical + wts[:, 1, None, None, None] * field \
        + wts[:, 2, None, None, None] * cue
    near = p.near.to(clean)[:, None, None, None]
    return near + (1.0 - near) * d


def apply_haze(clean: torch.Tensor, p: HazeParams) -> torch.Tensor:
    """Hazy image ``J t + A (1 - t)``, B x 3 x H x W in [0, 1]."""
    check_image(clean)
    check_batch(clean, p)
    t = torch.exp(-p.beta.to(clean)[:, None, None, None] * depth_map(clean, p))
    a = p.airlight.to(clean)[:, :, None, None]
    return (clean * t + a * (1.0 - t)).clamp(0.0, 1.0)
