"""What every frozen backbone provides, and the shared image preprocessing."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_images(images: torch.Tensor) -> torch.Tensor:
    """Validate a B x 3 x H x W float batch in [0, 1] and return it as float32."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a B x 3 x H x W tensor in [0, 1], got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
    return images.float()


def resize_short_side(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize B x 3 x H x W so that min(H, W) == size (bicubic, antialiased), keeping the aspect."""
    h, w = images.shape[-2:]
    scale = size / min(h, w)
    new = (max(size, round(h * scale)), max(size, round(w * scale)))
    if new == (h, w):
        return images
    return F.interpolate(images, size=new, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def center_crop(images: torch.Tensor, size: int, width: int | None = None) -> torch.Tensor:
    """Centre crop B x 3 x H x W (H >= size, W >= width) to B x 3 x size x width (width: size)."""
    width = size if width is None else width
    h, w = images.shape[-2:]
    top, left = (h - size) // 2, (w - width) // 2
    return images[..., top:top + size, left:left + width]


def global_view(images: torch.Tensor, size: int) -> torch.Tensor:
    """The whole scene: short side resized to `size`, centre crop (the authors' CLIP input)."""
    return center_crop(resize_short_side(images, size), size)


def native_view(images: torch.Tensor, size: int, min_size: int = 64) -> torch.Tensor:
    """A centre crop of side min(size, H, W) at the input's own pixel scale (noise, streaks and
    blur keep their pixel statistics); inputs smaller than `min_size` are upsampled to it."""
    if min(images.shape[-2:]) < min_size:
        images = resize_short_side(images, min_size)
    return center_crop(images, min(size, *images.shape[-2:]))


class Backbone(nn.Module):
    """A frozen image tower and text tower.

    Subclasses set `image_dim` and `text_dim` and implement `encode_image`
    (B x 3 x H x W in [0, 1] -> B x image_dim) and `encode_text` (list of B strings ->
    B x text_dim). Both run without gradients; the backbone is never trained.
    """

    image_dim: int
    text_dim: int

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def encode_text(self, texts: list[str]) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def freeze(self) -> "Backbone":
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> "Backbone":
        # Frozen towers stay in eval mode (BatchNorm statistics, dropout) whatever the parent does.
        return super().train(False)
