"""The authors' degradation encoder: their frozen CLIP and their adapters (their ``DA_adapter``).

The CLIP comes from the checkpoint when it carries one (theirs do), else from open_clip
``ViT-B-32`` / ``laion2b_s34b_b79k`` in the local hub cache (a one-line error naming what is
missing when offline). The adapters use GELU, as in their ``net/clip.py`` that their ``test.py``
runs. The encoder scores with the authors' convention (``scoring="dot"``: their seven prompts,
raw dot products) and feeds their network the raw adapter output (``degradation_vector="raw"``
of the network's config).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from ..encoder import DegradationEncoder, EncoderConfig
from ..encoder.backbones.clip import ClipBackbone, create_clip
from .errors import OfficialCheckpointError

CLIP_MODEL = "ViT-B-32"
CLIP_PRETRAINED = "laion2b_s34b_b79k"


def parse_clip_config(value: str | None) -> dict[str, Any] | None:
    """``open_clip.CLIP`` arguments given as JSON text or as the path of a JSON file (None: ViT-B-32's)."""
    if not value:
        return None
    from pathlib import Path

    from ..config_io import json_object
    text = value if value.lstrip().startswith("{") else Path(value).read_text()
    return json_object(text, "the CLIP config (open_clip.CLIP arguments)", OfficialCheckpointError)


def authors_encoder_config() -> EncoderConfig:
    """The configuration of the authors' encoder (CLIP ViT-B-32, GELU adapters, dot scoring)."""
    return EncoderConfig(backbone="clip", clip_model=CLIP_MODEL, clip_pretrained=CLIP_PRETRAINED,
                         activation="gelu", scoring="dot")


def build_clip(state: Mapping[str, torch.Tensor] | None, clip_config: dict[str, Any] | None = None,
               pretrained: str | None = CLIP_PRETRAINED) -> torch.nn.Module:
    """The frozen CLIP: ``open_clip.CLIP(**clip_config)`` (default: ViT-B-32's) with ``state`` loaded,
    or, when ``state`` is None, ViT-B-32 with ``pretrained`` weights (a tag from the hub cache, or a file)."""
    import open_clip

    if state is None:
        return create_clip(CLIP_MODEL, pretrained)
    config = clip_config or open_clip.get_model_config(CLIP_MODEL)
    clip = open_clip.CLIP(**config)
    own = clip.state_dict()
    mismatched = sorted(k for k in own if k not in state or state[k].shape != own[k].shape)
    unexpected = sorted(k for k in state if k not in own)
    if mismatched or unexpected:
        what = "ViT-B-32" if clip_config is None else "the given clip_config"
        raise OfficialCheckpointError(
            f"the checkpoint's CLIP does not fit {what}: missing or mis-shaped {mismatched[:3]}, "
            f"unexpected {unexpected[:3]}; pass clip_config (open_clip.CLIP arguments) for another architecture")
    clip.load_state_dict(dict(state), strict=True)
    return clip.eval()


def authors_encoder(clip: torch.nn.Module, adapters: Mapping[str, torch.Tensor]) -> DegradationEncoder:
    """Their ``DA_adapter`` as a frozen :class:`DegradationEncoder` around ``clip``."""
    encoder = DegradationEncoder(authors_encoder_config(), backbone=ClipBackbone(CLIP_MODEL, clip=clip))
    try:
        encoder.load_authors_adapters(dict(adapters))
    except ValueError as exc:
        raise OfficialCheckpointError(f"the authors' adapters do not load: {exc}") from None
    return encoder.freeze()


__all__ = ["CLIP_MODEL", "CLIP_PRETRAINED", "authors_encoder", "authors_encoder_config", "build_clip",
           "parse_clip_config"]
