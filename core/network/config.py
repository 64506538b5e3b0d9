"""Typed configuration of VLU-Net; its fields are the network's constructor arguments."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..config_io import dataclass_from_dict, json_object

from .blocks import LAYERNORM_TYPES


DEGRADATION_VECTORS = ("unit", "raw")


class ConfigError(ValueError):
    """A configuration that cannot describe a VLU-Net."""


@dataclass(frozen=True)
class VLUNetConfig:
    """VLU-Net hyper-parameters (defaults: the authors' ``VLUNet(de_dim=7)``).

    de_dim: size of each stage's degradation key database (7 degradations in the 5-task setting).
    dim: channels at level 1; levels 2-4 have 2x, 4x, 8x.
    num_blocks: Restormer blocks in the proximal step of levels 1-4 (decoder levels mirror them).
    num_refinement_blocks: blocks of the refinement stage.
    heads: attention heads of the proximal blocks at levels 1-4.
    ffn_expansion_factor: GDFN hidden width / channels.
    bias: biases in convolutions.
    layernorm_type: "WithBias" or "BiasFree".
    degradation_dim: size of the degradation vector d_I.
    gdm_heads: heads of Phi and PhiT in every D-GDM.
    key_base_size: keys of a stage with key index s are key_base_size // s pixels square.
    degradation_vector: the form of d_I the network was trained with, applied to every vector
        it is given (auto, class prompt or free text) by :func:`core.guidance.degradation_vector`:
        "unit" (L2-normalised adapted embedding: this project's models) or "raw" (the image
        adapter's output as it is, norm about sqrt(512): the authors' models, whose stages
        compute ``softmax(Linear(d_I))`` from it). Not an architectural choice; checkpoints
        written before it existed were all trained on unit vectors.
    """

    de_dim: int = 7
    dim: int = 48
    num_blocks: tuple[int, int, int, int] = (4, 6, 6, 8)
    num_refinement_blocks: int = 4
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion_factor: float = 2.66
    bias: bool = False
    layernorm_type: str = "WithBias"
    inp_channels: int = 3
    out_channels: int = 3
    degradation_dim: int = 512
    gdm_heads: int = 2
    key_base_size: int = 96
    degradation_vector: str = "unit"

    def __post_init__(self):
        object.__setattr__(self, "num_blocks", tuple(int(n) for n in self.num_blocks))
        object.__setattr__(self, "heads", tuple(int(n) for n in self.heads))
        if len(self.num_blocks) != 4 or len(self.heads) != 4:
            raise ConfigError(f"num_blocks and heads need 4 entries (levels 1-4), got "
                              f"{self.num_blocks} and {self.heads}")
        if self.layernorm_type not in LAYERNORM_TYPES:
            raise ConfigError(f"layernorm_type must be one of {LAYERNORM_TYPES}, got {self.layernorm_type!r}")
        if self.degradation_vector not in DEGRADATION_VECTORS:
            raise ConfigError(f"degradation_vector must be one of {DEGRADATION_VECTORS}, "
                              f"got {self.degradation_vector!r}")
        if min(self.de_dim, self.dim, self.num_refinement_blocks, *self.heads, self.gdm_heads) < 1 \
                or min(self.num_blocks) < 0:
            raise ConfigError(f"sizes must be positive: {self}")
        for level, heads in enumerate(self.heads):
            width = self.dim * 2 ** level
            for h, what in ((heads, "heads"), (self.gdm_heads, "gdm_heads")):
                if width % h:
                    raise ConfigError(f"level {level + 1} has {width} channels, not divisible by {what}={h}")

    @classmethod
    def from_dict(cls, data: dict) -> "VLUNetConfig":
        """Build from a plain dict; an unknown key gives one error naming it."""
        return dataclass_from_dict(cls, data, "VLU-Net config", ConfigError)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "VLUNetConfig":
        return cls.from_dict(json_object(text, "VLU-Net config", ConfigError))
