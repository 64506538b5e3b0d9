"""Run our VLU-Net the way the authors' code executes the same architecture, for comparison.

The authors' implementation keeps activations in the default NCHW layout, reshapes with
einops for attention (copies), L2-normalises q and k explicitly before ``q @ k^T``, and runs
LayerNorm through B x HW x C copies. :func:`authors_execution` switches a network to exactly
that execution (same weights, same arithmetic up to rounding) so that benchmarks can time
both in one process on the same machine.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from core.network import blocks, gdm
from core.network.vlunet import VLUNet


def _naive_attention(q, k, v, temperature):
    b, c, h, w = q.shape
    heads = temperature.shape[0]
    q, k, v = (t.reshape(b, heads, c // heads, h * w) for t in (q, k, v))
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    attn = ((q @ k.transpose(-2, -1)) * temperature).softmax(dim=-1)
    return (attn @ v).reshape(b, c, h, w)


def _mdta(self, x):
    q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
    return self.project_out(_naive_attention(q, k, v, self.temperature))


def _cross(self, x, key_map):
    q, v = self.qv_dwconv(self.qv(x)).chunk(2, dim=1)
    return self.project_out(_naive_attention(q, self.k_dwconv(self.k(key_map)), v, self.temperature))


def _layernorm(self, x):
    b, c, h, w = x.shape
    t = x.flatten(2).transpose(1, 2).contiguous()  # b (h w) c, as einops does
    mu = t.mean(-1, keepdim=True)
    var = t.var(-1, keepdim=True, unbiased=False)
    t = (t - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias if self.with_bias \
        else t / torch.sqrt(var + 1e-5) * self.weight
    return t.transpose(1, 2).reshape(b, c, h, w)


@contextlib.contextmanager
def authors_execution():
    """Within this context every VLUNet runs with the authors' layout and attention."""
    saved = (blocks.MDTA.forward, gdm.ChannelCrossAttention.forward, blocks.LayerNorm2d.forward,
             VLUNet.memory_format)
    blocks.MDTA.forward, gdm.ChannelCrossAttention.forward = _mdta, _cross
    blocks.LayerNorm2d.forward, VLUNet.memory_format = _layernorm, torch.contiguous_format
    try:
        yield
    finally:
        (blocks.MDTA.forward, gdm.ChannelCrossAttention.forward, blocks.LayerNorm2d.forward,
         VLUNet.memory_format) = saved
