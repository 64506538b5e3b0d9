"""Baseline (b): an end-to-end Restormer/PromptIR-style all-in-one network (no unfolding, no encoder).

A four-level Restormer U-Net (:class:`core.network.blocks.TransformerBlock`, ``Downsample``,
``Upsample``) whose decoder levels receive a PromptIR prompt: ``prompt_len`` learned prompt
components weighted by a softmax over the globally pooled features (the network infers the
degradation itself), resized to the feature map, concatenated and fused back by a
Transformer block and a 1x1 convolution. ``d`` is accepted and ignored so that the trainer
drives every network the same way. Sized to the parameter count of ``vlunet-tiny`` by
:data:`BASELINES` (see tests/test_baselines.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.config_io import dataclass_from_dict
from core.network.blocks import Downsample, TransformerBlock, Upsample


@dataclass(frozen=True)
class PromptIRConfig:
    dim: int = 16
    num_blocks: tuple[int, int, int, int] = (1, 1, 2, 4)
    num_refinement_blocks: int = 1
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion_factor: float = 2.66
    prompt_len: int = 5
    prompt_dim: tuple[int, int, int] = (16, 32, 64)   # prompt channels at decoder levels 1-3
    prompt_size: tuple[int, int, int] = (64, 32, 16)

    def __post_init__(self):
        object.__setattr__(self, "num_blocks", tuple(int(n) for n in self.num_blocks))
        object.__setattr__(self, "heads", tuple(int(n) for n in self.heads))
        object.__setattr__(self, "prompt_dim", tuple(int(n) for n in self.prompt_dim))
        object.__setattr__(self, "prompt_size", tuple(int(n) for n in self.prompt_size))

    @classmethod
    def from_dict(cls, data: dict) -> "PromptIRConfig":
        return dataclass_from_dict(cls, data, "PromptIR config")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class PromptBlock(nn.Module):
    """PromptIR's prompt generation: softmax(Linear(GAP(x))) weights ``prompt_len`` learned prompts."""

    def __init__(self, channels: int, prompt_dim: int, prompt_len: int, prompt_size: int):
        super().__init__()
        self.prompt = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.weights = nn.Linear(channels, prompt_len)
        self.conv = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.softmax(self.weights(x.mean(dim=(-2, -1))), dim=1)            # B x L
        prompt = (w[:, :, None, None, None] * self.prompt).sum(dim=1)      # B x P x s x s
        return self.conv(F.interpolate(prompt, size=x.shape[-2:], mode="bilinear", align_corners=False))


class PromptIR(nn.Module):
    """``forward(image, d=None) -> image``; image B x 3 x H x W in [0, 1], H and W multiples of 8."""

    multiple = 8

    def __init__(self, **kwargs):
        super().__init__()
        cfg = PromptIRConfig.from_dict(kwargs)
        self.config = cfg
        w = [cfg.dim * 2 ** i for i in range(4)]
        ffn = cfg.ffn_expansion_factor
        blocks = lambda c, n, h: nn.Sequential(*(TransformerBlock(c, h, ffn) for _ in range(n)))  # noqa: E731
        self.embed = nn.Conv2d(3, cfg.dim, kernel_size=3, padding=1, bias=False)
        self.encoders = nn.ModuleList(blocks(w[i], cfg.num_blocks[i], cfg.heads[i]) for i in range(3))
        self.down = nn.ModuleList(Downsample(w[i]) for i in range(3))
        self.latent = blocks(w[3], cfg.num_blocks[3], cfg.heads[3])
        # decoder level i (0-based) works at width dec[i]: 2C at level 1 (no reduce), w[i] else
        dec = [2 * w[0], w[1], w[2]]
        # features entering decoder level i have w[i + 1] channels
        self.prompts = nn.ModuleList(PromptBlock(w[i + 1], cfg.prompt_dim[i], cfg.prompt_len, cfg.prompt_size[i])
                                     for i in range(3))
        self.fuse = nn.ModuleList(nn.Sequential(
            TransformerBlock(w[i + 1] + cfg.prompt_dim[i], 1, ffn),
            nn.Conv2d(w[i + 1] + cfg.prompt_dim[i], w[i + 1], kernel_size=1, bias=False)) for i in range(3))
        self.up = nn.ModuleList(Upsample(w[i + 1]) for i in range(3))
        self.reduce = nn.ModuleList([nn.Identity()] + [nn.Conv2d(2 * w[i], w[i], 1, bias=False) for i in (1, 2)])
        self.decoders = nn.ModuleList(blocks(dec[i], cfg.num_blocks[i], cfg.heads[i]) for i in range(3))
        self.refinement = blocks(2 * w[0], cfg.num_refinement_blocks, cfg.heads[0])
        self.output = nn.Conv2d(2 * w[0], 3, kernel_size=3, padding=1, bias=False)

    def forward(self, image: torch.Tensor, d: torch.Tensor | None = None) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3 or image.shape[-1] % 8 or image.shape[-2] % 8:
            raise ValueError(f"expected B x 3 x H x W with H, W multiples of 8, got {tuple(image.shape)}")
        x = self.embed(image)
        skips = []
        for level in range(3):
            x = self.encoders[level](x)
            skips.append(x)
            x = self.down[level](x)
        x = self.latent(x)
        for level in reversed(range(3)):
            # the prompt joins the features entering decoder level `level` (PromptIR's decoder prompts)
            x = self.fuse[level](torch.cat([x, self.prompts[level](x)], dim=1))
            x = self.up[level](x)
            x = self.reduce[level](torch.cat([x, skips[level]], dim=1))
            x = self.decoders[level](x)
        return self.output(self.refinement(x)) + image
