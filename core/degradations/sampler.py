"""Seeded parameter sampling and pure synthesis for every degradation name.

``DegradationSampler(seed).sample(name, batch_size)`` draws parameters;
``synthesize(clean, name, params)`` is a pure function of the clean batch and the
parameters; ``degrade(clean, name, generator)`` does both. Names are the canonical seven
(:data:`CANONICAL`), the extras ``"noise"`` (continuous sigma) and ``"rain_heavy"``, and
mixtures joined by ``+``.
"""

from __future__ import annotations

import dataclasses

import torch

from .base import CANONICAL, FAMILY_OF, DegradationError, Params, check_image
from .blur import BlurConfig, BlurParams, apply_blur, sample_blur
from .haze import HazeConfig, HazeParams, apply_haze, sample_haze
from .low_light import LowLightConfig, LowLightParams, apply_low_light, sample_low_light
from .mixtures import MixtureParams, split_name
from .noise import NoiseConfig, NoiseParams, apply_noise, sample_noise
from .rain import HEAVY_RAIN, LIGHT_RAIN, RainConfig, RainParams, apply_rain, sample_rain

_APPLY = {"noise": (NoiseParams, apply_noise), "rain": (RainParams, apply_rain),
          "haze": (HazeParams, apply_haze), "blur": (BlurParams, apply_blur),
          "low_light": (LowLightParams, apply_low_light)}


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Sampling ranges of every family (defaults: the benchmark-like settings)."""

    noise: NoiseConfig = NoiseConfig()
    light_rain: RainConfig = LIGHT_RAIN
    heavy_rain: RainConfig = HEAVY_RAIN
    haze: HazeConfig = HazeConfig()
    blur: BlurConfig = BlurConfig()
    low_light: LowLightConfig = LowLightConfig()


class DegradationSampler:
    """Draws degradation parameters from its own seeded ``torch.Generator``.

    >>> sampler = DegradationSampler(seed=0)
    >>> params = sampler.sample("haze+noise_25", batch_size=4)
    """

    def __init__(self, seed: int = 0, config: SamplerConfig = SamplerConfig(),
                 generator: torch.Generator | None = None):
        self.config = config
        self.generator = generator if generator is not None else torch.Generator().manual_seed(int(seed))

    def sample(self, name: str, batch_size: int, height: int | None = None,
               width: int | None = None) -> Params | MixtureParams:
        """Parameters for ``batch_size`` images. ``height``/``width`` (optional) cap blur
        extents at a quarter of the short side for small images."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise DegradationError(f"batch_size must be a positive int, got {batch_size!r}")
        parts = split_name(name)
        comps = tuple(self._sample_one(p, batch_size, height, width) for p in parts)
        return comps[0] if len(comps) == 1 else MixtureParams(names=parts, components=comps)

    def _sample_one(self, name: str, b: int, height: int | None, width: int | None) -> Params:
        g, c = self.generator, self.config
        family = FAMILY_OF[name]
        if family == "noise":
            sigma = float(name.split("_")[1]) if "_" in name else None
            return sample_noise(g, b, sigma, c.noise)
        if family == "rain":
            heavy = name == "rain_heavy"
            return sample_rain(g, b, "heavy" if heavy else "light", c.heavy_rain if heavy else c.light_rain)
        if family == "haze":
            return sample_haze(g, b, c.haze)
        if family == "blur":
            short = min(height or 10**6, width or 10**6)
            return sample_blur(g, b, c.blur, max_extent=short // 4 if short < 10**6 else None)
        return sample_low_light(g, b, c.low_light)


def synthesize(clean: torch.Tensor, name: str, params: Params | MixtureParams) -> torch.Tensor:
    """Degrade ``clean`` (B x 3 x H x W, float in [0, 1]) with ``params``; same shape, in [0, 1].

    Pure: the same inputs always give the same output (random fields come from the seeds
    in ``params``). Noise is clipped to [0, 1] as the benchmarks clip to [0, 255].
    """
    check_image(clean)
    parts = split_name(name)
    comps = params.components if isinstance(params, MixtureParams) else (params,)
    if len(comps) != len(parts):
        raise DegradationError(f"{name!r} has {len(parts)} component(s), the parameters {len(comps)}")
    out = clean
    for part, p in zip(parts, comps):
        cls, apply = _APPLY[FAMILY_OF[part]]
        if not isinstance(p, cls):
            raise DegradationError(f"parameters for {part!r} must be {cls.__name__}, got {type(p).__name__}")
        out = apply(out, p)
    return out


def degrade(clean: torch.Tensor, name: str, generator: torch.Generator,
            config: SamplerConfig = SamplerConfig()) -> tuple[torch.Tensor, Params | MixtureParams]:
    """Sample parameters with ``generator`` and synthesize; returns (degraded, params)."""
    check_image(clean)
    sampler = DegradationSampler(config=config, generator=generator)
    params = sampler.sample(name, clean.shape[0], clean.shape[-2], clean.shape[-1])
    return synthesize(clean, name, params), params


def label_of(name: str) -> int:
    """Index of a canonical degradation in :data:`CANONICAL` (the encoder's class label)."""
    if name not in CANONICAL:
        raise DegradationError(f"{name!r} has no class label; labels exist for {', '.join(CANONICAL)}")
    return CANONICAL.index(name)
