"""Blur (deblurring task: GoPro-like camera shake, plus defocus-like Gaussian blur).

Each item is blurred with either a motion kernel -- a segment of ``length`` pixels at
``angle`` degrees, bent by ``curvature`` (0 = straight, 0.3 = clearly curved), like the
short, mostly smooth camera paths of GoPro -- or an isotropic Gaussian of std ``sigma``.
``kind`` is 1 for motion and 0 for Gaussian. Borders are reflected.
"""

from __future__ import annotations

import dataclasses

import torch

from .base import Params, RangeConfig, check_batch, check_image, seeds, uniform
from .filters import curve_kernels, filter2d, gaussian_kernels, odd_size


@dataclasses.dataclass(frozen=True)
class BlurConfig(RangeConfig):
    motion_probability: float = 0.75
    length: tuple[float, float] = (5.0, 25.0)
    curvature: tuple[float, float] = (-0.3, 0.3)
    sigma: tuple[float, float] = (0.8, 2.5)


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class BlurParams(Params):
    """Per item (B,): kind (1 motion, 0 Gaussian), length (px), angle (deg), curvature,
    sigma (px, Gaussian std; also used for motion items as a 0.5 px anti-alias)."""

    kind: torch.Tensor
    length: torch.Tensor
    angle: torch.Tensor
    curvature: torch.Tensor
    sigma: torch.Tensor


def sample_blur(generator: torch.Generator, batch_size: int, config: BlurConfig = BlurConfig(),
                max_extent: int | None = None) -> BlurParams:
    """Draw blur parameters; ``max_extent`` (e.g. a quarter of the image side) caps lengths."""
    kind = (torch.rand(batch_size, generator=generator) < config.motion_probability).long()
    length = uniform(generator, batch_size, *config.length)
    sigma = uniform(generator, batch_size, *config.sigma)
    if max_extent is not None:
        length = length.clamp(max=max(3.0, float(max_extent)))
        sigma = sigma.clamp(max=max(0.5, max_extent / 6.0))
    return BlurParams(seed=seeds(generator, batch_size), kind=kind, length=length,
                      angle=uniform(generator, batch_size, 0.0, 180.0),
                      curvature=uniform(generator, batch_size, *config.curvature),
                      sigma=torch.where(kind == 1, torch.full_like(sigma, 0.5), sigma))


def blur_kernels(p: BlurParams) -> torch.Tensor:
    """The B x K x K kernels (each summing to 1) of the parameters."""
    size = odd_size(max(float(p.length.max()) + 3.0, 6.0 * float(p.sigma.max())))
    gauss = gaussian_kernels(p.sigma, size)
    motion = curve_kernels(p.length, p.angle, p.curvature, size)
    motion = filter2d(motion[:, None], gaussian_kernels(torch.full_like(p.sigma, 0.5), 5), mode="constant")[:, 0]
    motion = motion / motion.sum(dim=(-2, -1), keepdim=True)
    return torch.where((p.kind == 1)[:, None, None], motion, gauss)


def apply_blur(clean: torch.Tensor, p: BlurParams) -> torch.Tensor:
    """Blurred image, B x 3 x H x W in [0, 1]."""
    check_image(clean)
    check_batch(clean, p)
    return filter2d(clean, blur_kernels(p), mode="reflect").clamp(0.0, 1.0)
