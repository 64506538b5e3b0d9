"""PSNR and SSIM in the convention of the all-in-one restoration papers (VLU-Net Sec. 4.1).

As in the PromptIR/VLU-Net evaluation code: RGB images as floats on [0, 1], the restored
image clipped to [0, 1], scikit-image's ``peak_signal_noise_ratio`` (data range 1) and
``structural_similarity`` (7x7 uniform window, data range 1, the three channels averaged).
``crop_multiple`` first centre-crops both images to a multiple of that size (16 for the
benchmarks that pad to multiples of 16).

Images are ``H x W x 3`` numpy arrays or ``3 x H x W`` / ``1 x 3 x H x W`` tensors.
"""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


class MetricInputError(ValueError):
    """Images that cannot be compared (shape, channels)."""


def to_hwc(image) -> np.ndarray:
    """A tensor (3 x H x W or 1 x 3 x H x W) or H x W x 3 array -> H x W x 3 float64 array."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
        if image.ndim == 4:
            if image.shape[0] != 1:
                raise MetricInputError(f"expected one image, got a batch of {image.shape[0]}")
            image = image[0]
        if image.ndim != 3:
            raise MetricInputError(f"expected a 3 x H x W tensor, got shape {image.shape}")
        image = np.moveaxis(image, 0, -1)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise MetricInputError(f"expected an RGB image (H x W x 3), got shape {image.shape}")
    return image


def centre_crop_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Centre crop H x W x C to the largest multiple of ``multiple`` in both sides."""
    h, w = image.shape[:2]
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise MetricInputError(f"a {h}x{w} image is smaller than the crop multiple {multiple}")
    top, left = (h - nh) // 2, (w - nw) // 2
    return image[top:top + nh, left:left + nw]


def _pair(restored, reference, crop_multiple: int | None) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.clip(to_hwc(restored), 0, 1), np.clip(to_hwc(reference), 0, 1)
    if x.shape != y.shape:
        raise MetricInputError(f"restored {x.shape} and reference {y.shape} differ in shape")
    if crop_multiple:
        x, y = centre_crop_multiple(x, crop_multiple), centre_crop_multiple(y, crop_multiple)
    return x, y


def psnr(restored, reference, crop_multiple: int | None = None) -> float:
    """PSNR in dB of ``restored`` against ``reference`` (both RGB on [0, 1]); inf when identical."""
    x, y = _pair(restored, reference, crop_multiple)
    if np.array_equal(x, y):
        return float("inf")
    return float(peak_signal_noise_ratio(y, x, data_range=1.0))


def ssim(restored, reference, crop_multiple: int | None = None) -> float:
    """Mean SSIM over the three channels (scikit-image, 7x7 window, data range 1)."""
    x, y = _pair(restored, reference, crop_multiple)
    if min(x.shape[:2]) < 7:
        raise MetricInputError(f"SSIM needs images of at least 7x7 pixels, got {x.shape[:2]}")
    return float(structural_similarity(y, x, data_range=1.0, channel_axis=-1))


def psnr_ssim(restored, reference, crop_multiple: int | None = None) -> tuple[float, float]:
    return psnr(restored, reference, crop_multiple), ssim(restored, reference, crop_multiple)


__all__ = ["MetricInputError", "centre_crop_multiple", "psnr", "psnr_ssim", "ssim", "to_hwc"]
