"""(c) Classical restoration methods from well-kept libraries, for the comparison table.

Each method takes a test image (:class:`training.trainer.data.SuiteImage`) and returns
1 x 3 x H x W in [0, 1]. A *blind* method sees only the degraded image, as a user's tool
would; the others are given the truth, stated in their names:

* noise -- CBM3D (``bm3d.bm3d_rgb``) and non-local means (scikit-image), given the true sigma
  (from the synthesis parameters, or the task name ``noise_25`` / ``cbsd68_25``) or, blind, the
  sigma scikit-image's ``estimate_sigma`` reads from the image (wavelet MAD); blind
  total-variation denoising (Chambolle, weight = 0.7 x the estimated sigma, the best of
  0.3-4 x on scikit-image's astronaut at sigma 15, 25 and 50, never on the held-out photos);
* rain -- blind 3x3 median filter;
* blur -- Wiener and Richardson-Lucy deconvolution (scikit-image) given the TRUE kernel
  (``core.degradations.blur.blur_kernels`` of the synthesis parameters); and, blind, scikit-image's
  unsharp mask with its default radius and amount (1, 1), untuned;
* low light -- CLAHE on the L channel of Lab (OpenCV) and a gamma that maps the mean to 0.45
  (both blind);
* haze -- dark channel prior (He et al., CVPR 2009) with guided-filter refinement, blind; no
  library implements it, so it is written here in a few lines of OpenCV.

``METHODS`` maps a method name to (tasks it applies to, function).
"""
from __future__ import annotations

import re
from typing import Callable

import cv2
import numpy as np
import torch

from core.degradations.blur import blur_kernels


class OracleMissingError(ValueError):
    """A method needs the true degradation parameters and the image has none."""


def _hwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x[0].permute(1, 2, 0).double().numpy())


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(a, 0, 1).astype(np.float32)).permute(2, 0, 1)[None].contiguous()


def true_sigma(image) -> float:
    """Noise std on [0, 1] from the synthesis parameters or a task name such as ``noise_25``."""
    sigma = getattr(image.params, "sigma", None)
    if sigma is not None:
        return float(sigma.flatten()[0]) / 255.0
    match = re.search(r"(\d+)$", image.task)
    if match is None:
        raise OracleMissingError(f"no noise level known for {image.task}/{image.name}")
    return int(match.group(1)) / 255.0


def true_kernel(image) -> np.ndarray:
    if image.params is None or not hasattr(image.params, "kind"):
        raise OracleMissingError(f"{image.task}/{image.name} carries no blur parameters (true kernel)")
    return blur_kernels(image.params)[0].double().numpy()


def estimated_sigma(image) -> float:
    """Noise std on [0, 1] read from the degraded image alone (scikit-image ``estimate_sigma``)."""
    from skimage.restoration import estimate_sigma
    return float(estimate_sigma(_hwc(image.degraded), channel_axis=-1, average_sigmas=True))


def cbm3d(image, sigma: Callable = true_sigma) -> torch.Tensor:
    import bm3d
    return _chw(bm3d.bm3d_rgb(_hwc(image.degraded), sigma_psd=max(sigma(image), 1e-3)))


def nl_means(image, sigma: Callable = true_sigma) -> torch.Tensor:
    from skimage.restoration import denoise_nl_means
    s = max(sigma(image), 1e-3)
    out = denoise_nl_means(_hwc(image.degraded), h=0.8 * s, sigma=s, patch_size=5,
                           patch_distance=6, fast_mode=True, channel_axis=-1)
    return _chw(out)


def tv_denoise(image, factor: float = 0.7) -> torch.Tensor:
    """Blind Chambolle total variation, weight = ``factor`` x the estimated noise sigma."""
    from skimage.restoration import denoise_tv_chambolle
    weight = max(factor * estimated_sigma(image), 1e-3)
    return _chw(denoise_tv_chambolle(_hwc(image.degraded), weight=weight, channel_axis=-1))


def median3(image) -> torch.Tensor:
    """Blind 3x3 median filter, each channel (removes thin streaks and specks)."""
    u8 = (np.clip(_hwc(image.degraded), 0, 1) * 255).round().astype(np.uint8)
    return _chw(cv2.medianBlur(u8, 3).astype(np.float64) / 255.0)


def _per_channel(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.stack([fn(x[..., c]) for c in range(x.shape[-1])], axis=-1)


def _pad(x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, int]:
    p = k.shape[0]
    return np.pad(x, ((p, p), (p, p), (0, 0)), mode="reflect"), p


def wiener(image, balance: float = 0.005) -> torch.Tensor:
    from skimage.restoration import wiener as sk_wiener
    k = true_kernel(image)
    x, p = _pad(_hwc(image.degraded), k)
    out = _per_channel(lambda c: sk_wiener(c, k, balance, clip=False), x)
    return _chw(out[p:-p, p:-p])


def richardson_lucy(image, num_iter: int = 30) -> torch.Tensor:
    from skimage.restoration import richardson_lucy as sk_rl
    k = true_kernel(image)
    x, p = _pad(_hwc(image.degraded), k)
    out = _per_channel(lambda c: sk_rl(c, k, num_iter=num_iter, clip=True), x)
    return _chw(out[p:-p, p:-p])


def unsharp_mask(image, radius: float = 1.0, amount: float = 1.0) -> torch.Tensor:
    """Blind sharpening: ``x + amount * (x - gaussian(x, radius))`` (scikit-image defaults), one
    channel at a time: with ``channel_axis`` scikit-image 0.26 returns images about 0.2 darker."""
    from skimage.filters import unsharp_mask as sk_unsharp_mask
    return _chw(_per_channel(lambda c: sk_unsharp_mask(np.ascontiguousarray(c), radius=radius, amount=amount),
                             _hwc(image.degraded)))


def clahe(image, clip_limit: float = 2.0, tiles: int = 8) -> torch.Tensor:
    u8 = (np.clip(_hwc(image.degraded), 0, 1) * 255).round().astype(np.uint8)
    lab = cv2.cvtColor(u8, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles)).apply(lab[..., 0])
    return _chw(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float64) / 255.0)


def gamma(image, target: float = 0.45) -> torch.Tensor:
    x = np.clip(_hwc(image.degraded), 1e-4, 1)
    g = np.log(target) / np.log(np.clip(x.mean(), 1e-4, 0.99))
    return _chw(x ** g)


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    box = lambda a: cv2.boxFilter(a, -1, (2 * radius + 1, 2 * radius + 1))  # noqa: E731
    mean_i, mean_p = box(guide), box(src)
    a = (box(guide * src) - mean_i * mean_p) / (box(guide * guide) - mean_i ** 2 + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def dark_channel_prior(image, patch: int = 15, omega: float = 0.95, t_min: float = 0.1) -> torch.Tensor:
    """He et al.: dark channel, airlight from its brightest 0.1 %, refined transmission, inversion."""
    x = _hwc(image.degraded).astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    dark = cv2.erode(x.min(axis=2), kernel)
    n = max(1, dark.size // 1000)
    idx = np.argsort(dark.ravel())[-n:]
    airlight = x.reshape(-1, 3)[idx].max(axis=0).clip(0.05, 1.0)
    t = 1 - omega * cv2.erode((x / airlight).min(axis=2), kernel)
    t = _guided_filter(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), t, radius=max(8, 4 * patch), eps=1e-3)
    out = (x - airlight) / np.maximum(t, t_min)[..., None] + airlight
    return _chw(out.astype(np.float64))


NOISE = ("noise_15", "noise_25", "noise_50", "cbsd68_15", "cbsd68_25", "cbsd68_50")
METHODS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "CBM3D (true sigma)": (NOISE, cbm3d),
    "CBM3D (estimated sigma)": (NOISE, lambda image: cbm3d(image, estimated_sigma)),
    "NLM (true sigma)": (NOISE, nl_means),
    "NLM (estimated sigma)": (NOISE, lambda image: nl_means(image, estimated_sigma)),
    "TV denoising": (NOISE, tv_denoise),
    "3x3 median": (("rain", "rain100l"), median3),
    "Wiener (true kernel)": (("blur",), wiener),
    "Richardson-Lucy (true kernel)": (("blur",), richardson_lucy),
    "unsharp mask": (("blur",), unsharp_mask),
    "CLAHE": (("low_light", "lol"), clahe),
    "gamma": (("low_light", "lol"), gamma),
    "dark channel prior": (("haze", "sots_outdoor"), dark_channel_prior),
}


def is_blind(name: str) -> bool:
    """Whether method ``name`` sees only the degraded image (no true sigma or kernel)."""
    return "(true " not in name
