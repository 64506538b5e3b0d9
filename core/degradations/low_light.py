"""Low light (enhancement task: LOL-like under-exposed, noisy images).

The sRGB image is linearised (gamma 2.2), scaled by ``exposure`` and per-channel
``gains`` (a slight colour cast), given sensor noise -- shot noise of variance
``shot * x`` and read noise of std ``read`` in linear units -- then re-encoded as ``x ** (gamma / 2.2)``
(gamma > 1 darkens the mid-tones further, as the camera response of the
LOL low-exposure shots does) and quantised to 8 bits. The defaults give mean
brightnesses of about 0.05-0.2 and input PSNRs of roughly 7-13 dB, as in LOL.
"""

from __future__ import annotations

import dataclasses

import torch

from .base import Params, RangeConfig, check_batch, check_image, seeds, uniform
from .filters import item_noise


@dataclasses.dataclass(frozen=True)
class LowLightConfig(RangeConfig):
    exposure: tuple[float, float] = (0.02, 0.12)
    gamma: tuple[float, float] = (1.0, 1.3)
    shot: tuple[float, float] = (2e-4, 2e-3)
    read: tuple[float, float] = (5e-4, 3e-3)
    cast: float = 0.08


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class LowLightParams(Params):
    """Per item: exposure (B,) linear scale; gamma (B,); shot (B,) and read (B,) noise
    levels (linear units); gains (B, 3) per-channel colour cast; quantize: 8-bit output."""

    exposure: torch.Tensor
    gamma: torch.Tensor
    shot: torch.Tensor
    read: torch.Tensor
    gains: torch.Tensor
    quantize: bool = True


def sample_low_light(generator: torch.Generator, batch_size: int,
                     config: LowLightConfig = LowLightConfig()) -> LowLightParams:
    u = lambda r: uniform(generator, batch_size, *r)  # noqa: E731
    lo, hi = config.exposure
    exposure = lo * (hi / lo) ** torch.rand(batch_size, generator=generator)  # log-uniform
    gains = 1.0 + uniform(generator, batch_size, -config.cast, config.cast, k=3)
    return LowLightParams(seed=seeds(generator, batch_size), exposure=exposure, gamma=u(config.gamma),
                          shot=u(config.shot), read=u(config.read), gains=gains / gains.mean(1, keepdim=True))


def apply_low_light(clean: torch.Tensor, p: LowLightParams) -> torch.Tensor:
    """Dark, noisy image, B x 3 x H x W in [0, 1]."""
    check_image(clean)
    check_batch(clean, p)
    v = lambda t: t.to(clean)[:, None, None, None]  # noqa: E731
    lin = clean.clamp(0.0, 1.0) ** 2.2 * v(p.exposure) * p.gains.to(clean)[:, :, None, None]
    n = item_noise(p.seed, tuple(clean.shape[1:])).to(clean)
    lin = (lin + torch.sqrt(v(p.shot) * lin + v(p.read) ** 2) * n).clamp(0.0, 1.0)
    out = lin ** (v(p.gamma) / 2.2)
    if p.quantize:
        out = torch.round(out * 255.0) / 255.0
    return out.clamp(0.0, 1.0)
