"""The authors' test protocol: images centre-cropped to a multiple of 16, no padding, no tiling.

Their ``crop_img(image, base=16)`` removes ``h % 16`` rows (half of them, rounded down, from the
top) and ``w % 16`` columns (half, rounded down, from the left); PSNR and SSIM are then taken on
the restored crop against the same crop of the ground truth, RGB in [0, 1] (scikit-image).
"""
from __future__ import annotations

import torch

BASE = 16


def crop_to_multiple(image: torch.Tensor, base: int = BASE) -> torch.Tensor:
    """... x H x W -> ... x H' x W', H' and W' the largest multiples of ``base`` (their ``crop_img``)."""
    h, w = image.shape[-2:]
    if h < base or w < base:
        raise ValueError(f"image of {h}x{w} is smaller than {base}x{base}: nothing is left after cropping")
    ch, cw = h % base, w % base
    return image[..., ch // 2:h - ch + ch // 2, cw // 2:w - cw + cw // 2]
