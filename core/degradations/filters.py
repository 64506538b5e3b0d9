"""Per-item filtering and random fields shared by the degradation families."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import item_generator


def filter2d(x: torch.Tensor, kernels: torch.Tensor, mode: str = "reflect") -> torch.Tensor:
    """Convolve each item of ``x`` (B x C x H x W) with its own kernel (B x K x K, K odd).

    FFT-based so that long motion/streak kernels stay cheap. The image is padded by K//2
    (``mode``: 'reflect', falling back to 'replicate' for tiny images, or 'constant'), so
    the output has the input's size and no circular wrap-around.
    """
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    p = k // 2
    if mode == "reflect" and p >= min(h, w):
        mode = "replicate"
    xp = F.pad(x, (p, p, p, p), mode=mode) if p else x
    hp, wp = xp.shape[-2:]
    kp = x.new_zeros(b, hp, wp)
    kp[:, :k, :k] = kernels.to(x)
    kp = torch.roll(kp, shifts=(-p, -p), dims=(-2, -1))
    out = torch.fft.irfft2(torch.fft.rfft2(xp) * torch.fft.rfft2(kp)[:, None], s=(hp, wp))
    return out[..., p:p + h, p:p + w]


def gaussian_kernels(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """Isotropic Gaussian kernels (B x size x size, each summing to 1) of std ``sigma`` (B,)."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    d2 = r[None, :, None] ** 2 + r[None, None, :] ** 2
    k = torch.exp(-d2 / (2 * sigma.float().clamp_min(1e-3)[:, None, None] ** 2))
    return k / k.sum(dim=(-2, -1), keepdim=True)


def curve_kernels(length: torch.Tensor, angle_deg: torch.Tensor, curvature: torch.Tensor,
                  size: int, samples: int = 256) -> torch.Tensor:
    """Kernels tracing a (possibly bent) line segment, each summing to 1: B x size x size.

    The segment has ``length`` pixels, direction ``angle_deg`` (0 = horizontal, counter-
    clockwise) and bends sideways by ``curvature * length`` at its ends (0 = straight).
    Points along it are splatted bilinearly, which anti-aliases thin lines.
    """
    b = length.shape[0]
    t = torch.linspace(-0.5, 0.5, samples)[None, :]
    th = torch.deg2rad(angle_deg.float())[:, None]
    L = length.float()[:, None]
    bend = curvature.float()[:, None] * L * (4 * t**2 - 1 / 3)
    x = L * t * torch.cos(th) - bend * torch.sin(th) + size // 2
    y = -L * t * torch.sin(th) - bend * torch.cos(th) + size // 2
    x0, y0 = x.floor(), y.floor()
    k = torch.zeros(b, size * size)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
            ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
            idx = (yi.clamp(0, size - 1) * size + xi.clamp(0, size - 1)).long()
            k.scatter_add_(1, idx, wgt * ok)
    k = k.view(b, size, size)
    return k / k.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def odd_size(extent: float) -> int:
    """Smallest odd kernel size that holds ``extent`` pixels plus a one-pixel margin."""
    n = int(math.ceil(extent)) + 2
    return n + 1 - n % 2


def smooth_field(seed: torch.Tensor, height: int, width: int, cells: int = 4, offset: int = 0) -> torch.Tensor:
    """Smooth random fields in [0, 1], B x 1 x H x W: bicubic upsampling of a coarse grid.

    ``cells`` (about 3-8) sets how many blobs span the short side.
    """
    fields = []
    short = min(height, width)
    gh = max(2, round(cells * height / short)) + 1
    gw = max(2, round(cells * width / short)) + 1
    for s in seed:
        g = torch.rand((1, 1, gh, gw), generator=item_generator(s, offset))
        fields.append(F.interpolate(g, size=(height, width), mode="bicubic", align_corners=True))
    f = torch.cat(fields)
    lo = f.amin(dim=(-2, -1), keepdim=True)
    hi = f.amax(dim=(-2, -1), keepdim=True)
    return (f - lo) / (hi - lo).clamp_min(1e-6)


def item_noise(seed: torch.Tensor, shape: tuple[int, ...], offset: int = 0, kind: str = "normal") -> torch.Tensor:
    """Per-item standard normal (or uniform) fields: B x ``shape``, from each item's seed."""
    draw = torch.randn if kind == "normal" else torch.rand
    return torch.stack([draw(shape, generator=item_generator(s, offset)) for s in seed])
