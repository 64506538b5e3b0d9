"""The authors' whole test-time pipeline from their release: network, frozen CLIP, adapters.

``load_release("pretrained_ckpt/3task_vlunet.ckpt")`` (or the folder) reads the file once and
builds the network from ``net.*``, the CLIP from the checkpoint's copy (else ViT-B-32 from the
local hub cache) and the adapters from the checkpoint (else ``clip_tuned.pth`` beside it). This
is what their ``test.py`` assembles: the model built with ``clip_tuned.pth`` loaded, then the
``.ckpt`` loaded over it, so the checkpoint's adapters win.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..encoder import DegradationEncoder
from ..network import VLUNet
from .encoder import authors_encoder, build_clip
from .errors import OfficialCheckpointError
from .files import ADAPTERS_FILE, adapters_beside, read_parts, resolve_release
from .network import load_official


@dataclass
class OfficialRelease:
    """The authors' network and degradation encoder, and where each part came from."""

    network: VLUNet
    encoder: DegradationEncoder
    checkpoint: Path | None
    sources: dict[str, str]   # "clip" / "adapters" -> where it was read


def load_release(source, clip_config: dict[str, Any] | None = None, clip_pretrained: str | None = None,
                 adapters: str | os.PathLike | None = None) -> OfficialRelease:
    """Load the authors' pipeline from a ``.ckpt`` (or ``.pth`` / ``.safetensors``), their folder,
    or a flat state dict.

    clip_config: ``open_clip.CLIP`` arguments of the checkpoint's CLIP (default ViT-B-32's).
    clip_pretrained: where CLIP comes from when the checkpoint holds none (default: ViT-B-32
        ``laion2b_s34b_b79k`` from the hub cache; or a local weights file).
    adapters: an adapter file (``clip_tuned.pth``) used when the checkpoint holds no adapters
        (default: ``clip_tuned.pth`` beside the checkpoint).
    """
    path = None if isinstance(source, dict) else resolve_release(source)
    parts = read_parts(source if path is None else path)
    network = load_official(parts.net)
    sources = {}
    if parts.clip is not None:
        clip = build_clip(parts.clip, clip_config)
        sources["clip"] = f"{path.name if path else 'state dict'} (model_degradation.*.clip_model)"
    else:
        clip = build_clip(None, pretrained=clip_pretrained or "laion2b_s34b_b79k")
        sources["clip"] = f"open_clip ViT-B-32 / {clip_pretrained or 'laion2b_s34b_b79k'}"
    adapter_state = parts.adapters
    if adapter_state is not None:
        sources["adapters"] = f"{path.name if path else 'state dict'} (model_degradation.ad_*Encoder.adapter)"
    else:
        adapter_file = Path(adapters) if adapters else adapters_beside(path)
        if adapter_file is None:
            raise OfficialCheckpointError(
                f"{path or 'the state dict'} holds no adapters (model_degradation.ad_imageEncoder.adapter.*) and no "
                f"{ADAPTERS_FILE} is beside it; pass adapters=PATH to the authors' {ADAPTERS_FILE}")
        adapter_state = read_parts(adapter_file).adapters
        if adapter_state is None:
            raise OfficialCheckpointError(f"{adapter_file} holds no adapter tensors (ad_imageEncoder.adapter.*)")
        sources["adapters"] = str(adapter_file)
    return OfficialRelease(network, authors_encoder(clip, adapter_state), path, sources)
