"""Rain streaks (deraining task: Rain100L-like light rain, Rain100H-like heavy rain).

A sparse field of drops (density = fraction of pixels that seed a drop, random drop
brightness) is smeared along a line of ``length`` pixels at ``angle`` degrees from the
vertical, widened by a Gaussian of std ``width`` pixels and normalised so that a full
streak reaches ``brightness``. The streak layer S is screen-blended over the image,
``O = 1 - (1 - B)(1 - S)``, and heavy rain adds an atmospheric veil
``O <- (1 - veil) O + veil * 0.85``, as in the Rain100H images. Light rain gives an input
PSNR of about 26-27 dB on natural photos, like Rain100L.
"""

from __future__ import annotations

import dataclasses

import torch

from .base import Params, RangeConfig, check_batch, check_image, seeds, uniform
from .filters import curve_kernels, filter2d, gaussian_kernels, item_noise, odd_size


@dataclasses.dataclass(frozen=True)
class RainConfig(RangeConfig):
    """Sampling ranges (uniform) for one rain level."""

    density: tuple[float, float] = (0.0008, 0.0018)
    length: tuple[float, float] = (12.0, 28.0)
    angle: tuple[float, float] = (-25.0, 25.0)
    width: tuple[float, float] = (0.4, 0.8)
    brightness: tuple[float, float] = (0.55, 0.8)
    veil: tuple[float, float] = (0.0, 0.0)


LIGHT_RAIN = RainConfig()
HEAVY_RAIN = RainConfig(density=(0.003, 0.006), length=(25.0, 50.0), angle=(-35.0, 35.0),
                        width=(0.8, 1.4), brightness=(0.45, 0.75), veil=(0.05, 0.2))


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class RainParams(Params):
    """Per item (B,): density, length (px), angle (deg from vertical), width (px std),
    brightness (peak streak value in [0, 1]), veil (fog weight, 0 for light rain)."""

    density: torch.Tensor
    length: torch.Tensor
    angle: torch.Tensor
    width: torch.Tensor
    brightness: torch.Tensor
    veil: torch.Tensor
    level: str = "light"


def sample_rain(generator: torch.Generator, batch_size: int, level: str = "light",
                config: RainConfig | None = None) -> RainParams:
    """Draw rain parameters for ``level`` 'light' or 'heavy' (or an explicit ``config``)."""
    cfg = config or (HEAVY_RAIN if level == "heavy" else LIGHT_RAIN)
    u = lambda r: uniform(generator, batch_size, *r)  # noqa: E731
    return RainParams(seed=seeds(generator, batch_size), density=u(cfg.density), length=u(cfg.length),
                      angle=u(cfg.angle), width=u(cfg.width), brightness=u(cfg.brightness),
                      veil=u(cfg.veil), level=level)


def rain_layer(p: RainParams, height: int, width: int) -> torch.Tensor:
    """Streak layer S in [0, 1], B x 1 x H x W."""
    u = item_noise(p.seed, (1, height, width), kind="uniform")
    v = item_noise(p.seed, (1, height, width), offset=1, kind="uniform")
    drops = (u < p.density[:, None, None, None]).float() * (0.4 + 0.6 * v)
    size = odd_size(float(p.length.max()) + 6 * float(p.width.max()))
    line = curve_kernels(p.length, 90.0 + p.angle, torch.zeros_like(p.length), size)
    streak = line * p.length[:, None, None]  # a lone drop draws a line of height ~1
    blur = gaussian_kernels(p.width, size)
    kernel = filter2d(streak[:, None], blur, mode="constant")[:, 0]
    peak = kernel.amax(dim=(-2, -1)).clamp_min(1e-6)
    s = filter2d(drops, kernel / peak[:, None, None], mode="constant")
    return (s * p.brightness[:, None, None, None]).clamp(0.0, 1.0)


def apply_rain(clean: torch.Tensor, p: RainParams) -> torch.Tensor:
    """Screen-blend the streak layer (and veil) over ``clean`` (B x 3 x H x W in [0, 1])."""
    check_image(clean)
    check_batch(clean, p)
    s = rain_layer(p, clean.shape[-2], clean.shape[-1]).to(clean)
    out = 1.0 - (1.0 - clean) * (1.0 - s)
    veil = p.veil.to(clean)[:, None, None, None]
    out = (1.0 - veil) * out + veil * 0.85
    return out.clamp(0.0, 1.0)
