"""Additive white Gaussian noise (denoising task: CBSD68 / BSD400+WED, sigma on the 0-255 scale).

Clipping convention: the all-in-one benchmarks (AirNet, PromptIR and the code VLU-Net builds
on) add ``sigma * randn`` to the uint8 clean image and store
``np.clip(noisy, 0, 255).astype(np.uint8)``, i.e. the noisy input is clipped to the valid
range (and truncated to 8 bits). We clip to [0, 1] by default (``clip=True``);
``quantize=True`` also reproduces the 8-bit truncation (``floor(255 x) / 255``) for exact
benchmark inputs. With clipping the input PSNR is slightly above the unclipped
``20 log10(255 / sigma)`` (24.61 / 20.17 / 14.15 dB), most at sigma 50.
"""

from __future__ import annotations

import dataclasses

import torch

from .base import Params, RangeConfig, check_batch, check_image, seeds, uniform
from .filters import item_noise


@dataclasses.dataclass(frozen=True)
class NoiseConfig(RangeConfig):
    """Sampling ranges for the continuous-noise option ("noise")."""

    sigma_range: tuple[float, float] = (5.0, 55.0)
    clip: bool = True
    quantize: bool = False


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class NoiseParams(Params):
    """sigma: (B,) noise std on the 0-255 scale; clip / quantize: see module docstring."""

    sigma: torch.Tensor
    clip: bool = True
    quantize: bool = False


def sample_noise(generator: torch.Generator, batch_size: int, sigma: float | None = None,
                 config: NoiseConfig = NoiseConfig()) -> NoiseParams:
    """Fixed ``sigma`` (noise_15/25/50) or, when None, uniform in ``config.sigma_range``."""
    s = seeds(generator, batch_size)
    sig = torch.full((batch_size,), float(sigma)) if sigma is not None else \
        uniform(generator, batch_size, *config.sigma_range)
    return NoiseParams(seed=s, sigma=sig, clip=config.clip, quantize=config.quantize)


def apply_noise(clean: torch.Tensor, p: NoiseParams) -> torch.Tensor:
    """``clean + sigma/255 * n`` (n ~ N(0, 1) from each item's seed), clipped; B x 3 x H x W."""
    check_image(clean)
    check_batch(clean, p)
    n = item_noise(p.seed, tuple(clean.shape[1:])).to(clean)
    out = clean + p.sigma.to(clean)[:, None, None, None] / 255.0 * n
    if p.clip or p.quantize:
        out = out.clamp(0.0, 1.0)
    if p.quantize:
        out = torch.floor(out * 255.0) / 255.0
    return out
