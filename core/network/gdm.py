"""Degradation-guided gradient-descent module, D-GDM (VLU-Net Sec. 3.2, Eq. 5-7).

One proximal-gradient step in feature space

    z = x - r * PhiT(Phi(x, key) - y)

where ``y`` is the degraded observation embedded at this level, ``Phi`` the degradation
transform chosen by the degradation vector ``d_I`` through soft retrieval from a learned key
database, ``PhiT`` its learned "transpose" (an MDTA self-attention) and ``r`` a learnable step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import MDTA, channel_attention, half_conv


class DegradationKeyDatabase(nn.Module):
    """Learnable degradation keys and their soft retrieval (Sec. 3.2, Eq. 5).

    ``database``: de_dim x key_channels x S x S learnable keys (uniform init, as the authors').
    ``retrieval``: Linear(degradation_dim -> de_dim). The retrieval weights are
    ``w = softmax(retrieval(d_I))`` (B x de_dim); the key map is ``sum_i w_i * database_i``
    resized bilinearly to the feature map (B x key_channels x H x W).

    With no degradation vector (``d is None``) the weights are uniform, 1/de_dim each: the
    key map is the mean of the database, i.e. "no knowledge of the degradation". The
    authors' code has no such case (it crashes); this is our definition.
    """

    def __init__(self, de_dim: int, key_channels: int, key_size: int, degradation_dim: int = 512):
        super().__init__()
        self.de_dim = de_dim
        self.retrieval = nn.Linear(degradation_dim, de_dim)
        self.database = nn.Parameter(torch.rand(de_dim, key_channels, key_size, key_size))

    def weights(self, d: torch.Tensor | None, batch: int) -> torch.Tensor:
        """Retrieval weights, B x de_dim, rows summing to one."""
        if d is None:
            return self.database.new_full((batch, self.de_dim), 1.0 / self.de_dim)
        with torch.autocast(self.database.device.type, enabled=False):  # float32 under bfloat16 inference
            return self._weights(d, batch)

    def _weights(self, d: torch.Tensor, batch: int) -> torch.Tensor:
        if d.ndim != 2 or d.shape[0] != batch or d.shape[1] != self.retrieval.in_features:
            raise ValueError(f"degradation vector must be {batch} x {self.retrieval.in_features}, "
                             f"got {tuple(d.shape)}")
        return F.softmax(self.retrieval(d.to(self.database.dtype)), dim=1)

    def key_map(self, weights: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """B x key_channels x H x W key map for retrieval ``weights`` (B x de_dim)."""
        with torch.autocast(self.database.device.type, enabled=False):
            key = torch.einsum("bn,nchw->bchw", weights, self.database)
        return F.interpolate(key, size=size, mode="bilinear", align_corners=False)


class ChannelCrossAttention(nn.Module):
    """``Phi``: channel-wise cross-attention whose keys come from the degradation key map.

    Query and value from the estimate ``x`` (1x1 conv + depthwise 3x3), key from the key map
    (1x1 conv key_channels -> C + depthwise 3x3); attention as in MDTA.
    """

    def __init__(self, dim: int, key_channels: int, num_heads: int = 2, bias: bool = False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"channels ({dim}) must be divisible by the number of heads ({num_heads})")
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qv = nn.Conv2d(dim, dim * 2, kernel_size=1, bias=bias)
        self.qv_dwconv = nn.Conv2d(dim * 2, dim * 2, kernel_size=3, padding=1, groups=dim * 2, bias=bias)
        self.k = nn.Conv2d(key_channels, dim, kernel_size=1, bias=bias)
        self.k_dwconv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor, key_map: torch.Tensor) -> torch.Tensor:
        q, v = (half_conv(x, self.qv, self.qv_dwconv, i) for i in (0, 1))  # = chunk(2) of the pair, contiguous
        k = self.k_dwconv(self.k(key_map))
        return self.project_out(channel_attention(q, k, v, self.temperature))


@dataclass
class GradientStep:
    """What one D-GDM step did: the new estimate, the correction subtracted, the weights."""

    z: torch.Tensor            # B x C x H x W, x - correction
    correction: torch.Tensor   # B x C x H x W, r * PhiT(Phi(x, key) - y)
    weights: torch.Tensor      # B x de_dim retrieval weights


class DGDM(nn.Module):
    """Degradation-guided gradient-descent module (Sec. 3.2, Eq. 7).

    Args:
        dim: channels C of the stage's feature maps.
        de_dim: size of the degradation key database.
        key_channels: channels of each key (the authors' ``promptdim``).
        key_size: spatial size S of each key (the authors' ``96 // stage``).
        degradation_dim: size of the degradation vector d_I (512 for CLIP ViT-B/32).
        num_heads: heads of Phi and PhiT (2 in the paper).
    """

    def __init__(self, dim: int, de_dim: int, key_channels: int, key_size: int,
                 degradation_dim: int = 512, num_heads: int = 2, bias: bool = False):
        super().__init__()
        self.keys = DegradationKeyDatabase(de_dim, key_channels, key_size, degradation_dim)
        self.phi = ChannelCrossAttention(dim, key_channels, num_heads, bias)
        self.phit = MDTA(dim, num_heads, bias)
        self.step = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor, d: torch.Tensor | None) -> GradientStep:
        """x, y: B x C x H x W (estimate, embedded observation); d: B x degradation_dim or None."""
        weights = self.keys.weights(d, x.shape[0])
        key_map = self.keys.key_map(weights, x.shape[-2:]).contiguous(memory_format=_format_of(x))
        correction = self.step * self.phit(self.phi(x, key_map) - y)
        return GradientStep(z=x - correction, correction=correction, weights=weights)


def _format_of(x: torch.Tensor) -> torch.memory_format:
    """The memory format of ``x``, so the key map matches the features it meets."""
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
