"""Restormer building blocks used by VLU-Net (Zamir et al., CVPR 2022; VLU-Net Sec. 3.3).

Every block takes and returns feature maps of shape B x C x H x W. They work in any memory
format; the network keeps its activations channels-last, where PyTorch's CPU kernels for
depthwise and 1x1 convolutions are markedly faster, and the channel-attention below is
written so that it never forces a layout copy of its inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAYERNORM_TYPES = ("WithBias", "BiasFree")


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channel axis of a B x C x H x W map.

    ``WithBias``: ``(x - mean) / sqrt(var + 1e-5) * weight + bias`` (standard LayerNorm).
    ``BiasFree``: ``x / sqrt(var + 1e-5) * weight`` (no centring, Restormer's variant).
    """

    def __init__(self, channels: int, layernorm_type: str = "WithBias"):
        super().__init__()
        if layernorm_type not in LAYERNORM_TYPES:
            raise ValueError(f"layernorm_type must be one of {LAYERNORM_TYPES}, got {layernorm_type!r}")
        self.with_bias = layernorm_type == "WithBias"
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if self.with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)  # B x H x W x C: a free view for channels-last input
        if self.with_bias:
            t = F.layer_norm(t, t.shape[-1:], self.weight, self.bias, eps=1e-5)
        else:
            var = t.var(-1, keepdim=True, unbiased=False)
            t = t * torch.rsqrt(var + 1e-5) * self.weight
        return t.permute(0, 3, 1, 2)


def tokens(x: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x HW x C; a free view when ``x`` is channels-last."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def _attend(cross: torch.Tensor, q_sq: torch.Tensor, k_sq: torch.Tensor, v: torch.Tensor,
            temperature: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Finish channel attention from Gram statistics.

    cross: B x C x C, the products q_i . k_j over positions; q_sq, k_sq: B x C squared norms;
    v: B x HW x C. Each head's C/heads x C/heads map is ``softmax(q_i.k_j / (|q_i| |k_j|) * t)``;
    the heads are assembled into one block-diagonal C x C matrix (off-head entries are exactly
    zero after the masked softmax), so ``out = v @ A^T`` is one matrix product whose result is
    already channels-last. Returns B x C x H x W.
    """
    b, c, _ = cross.shape
    heads = temperature.shape[0]
    eps = 1e-12  # as F.normalize
    q_norm = q_sq.clamp_min(0).sqrt().clamp_min(eps)
    k_norm = k_sq.clamp_min(0).sqrt().clamp_min(eps)
    scale = temperature.reshape(heads, 1).expand(heads, c // heads).reshape(1, c, 1)
    logits = cross / (q_norm[:, :, None] * k_norm[:, None, :]) * scale
    head = torch.arange(c, device=cross.device) // (c // heads)
    logits = logits.masked_fill(head[:, None] != head[None, :], float("-inf"))
    out = per_image_matmul(v, logits.softmax(dim=-1).transpose(1, 2))  # B x HW x C
    return out.reshape(b, *size, c).permute(0, 3, 1, 2)


def per_image_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for B x M x K and B x K x N, one matrix product per image.

    The operands here are strided views of channels-last maps (transposed, or a column slice).
    ``torch.bmm`` copies such operands before multiplying (most of all in bfloat16, where it
    took five times as long as the product itself); ``torch.mm`` reads them in place.
    """
    if a.shape[0] == 1:
        return (a[0] @ b[0]).unsqueeze(0)
    return torch.stack([x @ y for x, y in zip(a, b)])


def channel_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      temperature: torch.Tensor) -> torch.Tensor:
    """Transposed ("channel") attention of Restormer's MDTA (Restormer Sec. 3.1).

    q, k, v: B x C x H x W; temperature: heads x 1 x 1. Channels are split into heads; within a
    head the attention map is ``softmax(norm(q) norm(k)^T * temperature)`` with q, k
    L2-normalised over the H*W positions; the output is ``attn @ v``. Computed from Gram
    matrices, never materialising normalised copies of q and k. Returns B x C x H x W.
    """
    qt, kt = tokens(q), tokens(k)
    cross = per_image_matmul(qt.transpose(1, 2), kt)
    q_sq = per_image_matmul(qt.transpose(1, 2), qt).diagonal(dim1=1, dim2=2)
    k_sq = per_image_matmul(kt.transpose(1, 2), kt).diagonal(dim1=1, dim2=2)
    return _attend(cross, q_sq, k_sq, tokens(v), temperature, q.shape[-2:])


def self_channel_attention(qkv: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """``channel_attention(*qkv.chunk(3, dim=1), temperature)`` with one Gram matrix of [q k]
    giving the cross products and both norms in a single pass over the features."""
    c = qkv.shape[1] // 3
    t = tokens(qkv)
    qk = t[..., :2 * c]
    gram = per_image_matmul(qk.transpose(1, 2), qk)  # B x 2C x 2C
    sq = gram.diagonal(dim1=1, dim2=2)
    return _attend(gram[:, :c, c:], sq[:, :c], sq[:, c:], t[..., 2 * c:], temperature, qkv.shape[-2:])


class MDTA(nn.Module):
    """Multi-Dconv-head Transposed self-Attention (Restormer Sec. 3.1); also ``PhiT`` of the D-GDM."""

    def __init__(self, dim: int, num_heads: int, bias: bool = False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"channels ({dim}) must be divisible by the number of heads ({num_heads})")
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project_out(self_channel_attention(self.qkv_dwconv(self.qkv(x)), self.temperature))


class GDFN(nn.Module):
    """Gated-Dconv Feed-forward Network (Restormer Sec. 3.2): ``W_o(gelu(D1 W1 x) * D2 W2 x)``."""

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool = False):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The two halves (gate and value) are computed apart, each from its half of the weights:
        # the same arithmetic as one 2*hidden-channel conv then a chunk, but each half comes out
        # contiguous, and GELU on a contiguous map runs about twice as fast on the CPU as on a
        # channel slice of a channels-last map (the full-resolution GDFN is the costliest op).
        halves = [half_conv(x, self.project_in, self.dwconv, i) for i in (0, 1)]
        return self.project_out(F.gelu(halves[0]).mul_(halves[1]))


def half_conv(x: torch.Tensor, pointwise: nn.Conv2d, depthwise: nn.Conv2d, half: int) -> torch.Tensor:
    """Half ``half`` (0 or 1) of ``depthwise(pointwise(x))``'s output channels, computed on its own."""
    n = pointwise.out_channels // 2
    part = slice(half * n, (half + 1) * n)
    bias_in = pointwise.bias[part] if pointwise.bias is not None else None
    bias_dw = depthwise.bias[part] if depthwise.bias is not None else None
    y = F.conv2d(x, pointwise.weight[part], bias_in)
    return F.conv2d(y, depthwise.weight[part], bias_dw, padding=depthwise.padding, groups=n)


class TransformerBlock(nn.Module):
    """Restormer block: ``x + MDTA(LN(x))`` then ``x + GDFN(LN(x))``."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float,
                 bias: bool = False, layernorm_type: str = "WithBias"):
        super().__init__()
        self.norm1 = LayerNorm2d(dim, layernorm_type)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = LayerNorm2d(dim, layernorm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Downsample(nn.Module):
    """Halve the resolution, double the channels: 3x3 conv to C/2, then pixel-unshuffle by 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(self.conv(x), 2)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: 3x3 conv to 2C, then pixel-shuffle by 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 2, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)
