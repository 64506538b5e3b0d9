"""Seeded synthesis of the degradations VLU-Net restores (paper Sec. 4.1, 3-task and 5-task).

Parameters are drawn apart from the synthesis (a seeded :class:`DegradationSampler`), and
:func:`synthesize` is a pure batched function of a clean B x 3 x H x W image in [0, 1]
and those parameters. One file per family: :mod:`.noise`, :mod:`.rain`, :mod:`.haze`,
:mod:`.blur`, :mod:`.low_light`; :mod:`.mixtures` combines them.
"""

from .base import CANONICAL, COARSE, COARSE_OF, EXTRA, FAMILY_OF, DegradationError, Params
from .blur import BlurConfig, BlurParams
from .haze import HazeConfig, HazeParams, depth_map
from .low_light import LowLightConfig, LowLightParams
from .mixtures import PHYSICAL_ORDER, MixtureParams, canonical_mixture, split_name
from .noise import NoiseConfig, NoiseParams
from .rain import HEAVY_RAIN, LIGHT_RAIN, RainConfig, RainParams
from .sampler import DegradationSampler, SamplerConfig, degrade, label_of, synthesize

__all__ = [
    "CANONICAL", "COARSE", "COARSE_OF", "EXTRA", "FAMILY_OF", "PHYSICAL_ORDER",
    "DegradationSampler", "SamplerConfig", "synthesize", "degrade", "label_of",
    "split_name", "canonical_mixture", "DegradationError", "Params", "MixtureParams",
    "NoiseConfig", "NoiseParams", "RainConfig", "RainParams", "LIGHT_RAIN", "HEAVY_RAIN",
    "HazeConfig", "HazeParams", "depth_map", "BlurConfig", "BlurParams",
    "LowLightConfig", "LowLightParams",
]
