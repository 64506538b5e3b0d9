"""VLU-Net: a hierarchical deep unfolding network steered by a degradation vector (Sec. 3).

Eight proximal-gradient stages over four feature levels (encoder 1-3, latent, decoder 3-1,
refinement), U-Net shaped. Two streams run side by side:

* ``x``, the estimate: embedded by W (``embed_x``), updated by every stage, down/up-sampled
  between levels and merged with its encoder skips;
* ``y``, the degraded observation: embedded separately (``embed_y``) and only carried
  through the levels (its own down/up-sampling and skip merges), never updated; each stage's
  gradient step compares its estimate with ``y`` at its own level (Sec. 3.3).

The output projects the refined features back to the image (W^-1, a 3x3 conv) and adds the
input (global residual).
"""
from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from .blocks import Downsample, Upsample
from .config import VLUNetConfig
from .stage import StageSpec, StageTrace, UnfoldingStage


def stage_specs(cfg: VLUNetConfig) -> list[StageSpec]:
    """The eight stages in execution order, as in the authors' table."""
    c, nb, h = cfg.dim, cfg.num_blocks, cfg.heads
    return [
        StageSpec("encoder_level1", 1, c, nb[0], h[0], 1),
        StageSpec("encoder_level2", 2, 2 * c, nb[1], h[1], 2),
        StageSpec("encoder_level3", 3, 4 * c, nb[2], h[2], 3),
        StageSpec("latent", 4, 8 * c, nb[3], h[3], 4),
        StageSpec("decoder_level3", 3, 4 * c, nb[2], h[2], 3),
        StageSpec("decoder_level2", 2, 2 * c, nb[1], h[1], 2),
        StageSpec("decoder_level1", 1, 2 * c, nb[0], h[0], 1),  # concat with skip, no 1x1 reduce
        StageSpec("refinement", 1, 2 * c, cfg.num_refinement_blocks, h[0], 1),
    ]


class VLUNet(nn.Module):
    """VLU-Net. Constructor arguments are the fields of :class:`VLUNetConfig` one to one.

    ``forward(image, d=None, trace=False)``:
        image: B x inp_channels x H x W, H and W multiples of 8 (``Restorer`` pads for you);
        d: B x degradation_dim degradation vectors d_I, or None for uniform retrieval;
        returns B x out_channels x H x W, or ``(output, [StageTrace] * 8)`` when ``trace``.
    """

    multiple = 8  # three 2x downsamplings
    # Activations are kept channels-last: PyTorch's CPU kernels for the depthwise and 1x1
    # convolutions that dominate the cost run several times faster in that layout.
    memory_format = torch.channels_last

    def __init__(self, **kwargs):
        super().__init__()
        cfg = VLUNetConfig.from_dict(kwargs)
        self.config = cfg
        specs = stage_specs(cfg)
        make = lambda spec: UnfoldingStage(  # noqa: E731
            spec, cfg.de_dim, cfg.ffn_expansion_factor, cfg.bias, cfg.layernorm_type,
            cfg.degradation_dim, cfg.gdm_heads, cfg.key_base_size)
        widths = [cfg.dim * 2 ** i for i in range(3)]  # channels at levels 1..3

        self.embed_x = nn.Conv2d(cfg.inp_channels, cfg.dim, kernel_size=3, padding=1, bias=cfg.bias)
        self.embed_y = nn.Conv2d(cfg.inp_channels, cfg.dim, kernel_size=3, padding=1, bias=cfg.bias)
        self.encoders = nn.ModuleList(make(s) for s in specs[0:3])
        self.latent = make(specs[3])
        self.decoders = nn.ModuleList(make(s) for s in reversed(specs[4:7]))  # indexed by level-1
        self.refinement = make(specs[7])
        for stream in ("x", "y"):
            self.add_module(f"down_{stream}", nn.ModuleList(Downsample(w) for w in widths))
            self.add_module(f"up_{stream}", nn.ModuleList(Upsample(2 * w) for w in widths))
            # levels 2 and 3 merge [upsampled, skip] back to their width; level 1 keeps 2C
            self.add_module(f"reduce_{stream}", nn.ModuleList(
                [nn.Identity()] + [nn.Conv2d(2 * w, w, kernel_size=1, bias=cfg.bias) for w in widths[1:]]))
        self.output = nn.Conv2d(2 * cfg.dim, cfg.out_channels, kernel_size=3, padding=1, bias=cfg.bias)

    @classmethod
    def from_config(cls, cfg: VLUNetConfig) -> "VLUNet":
        return cls(**asdict(cfg))

    @property
    def stages(self) -> list[UnfoldingStage]:
        """The eight stages in execution order."""
        return [*self.encoders, self.latent, *reversed(self.decoders), self.refinement]

    def forward(self, image: torch.Tensor, d: torch.Tensor | None = None, trace: bool = False):
        if image.ndim != 4 or image.shape[1] != self.config.inp_channels:
            raise ValueError(f"expected a B x {self.config.inp_channels} x H x W image tensor, "
                             f"got shape {tuple(image.shape)}")
        if image.shape[-1] % self.multiple or image.shape[-2] % self.multiple:
            raise ValueError(f"height and width must be multiples of {self.multiple}, got "
                             f"{tuple(image.shape[-2:])} (core.Restorer pads images for you)")
        records: list[StageTrace] | None = [] if trace else None
        cl = self.memory_format
        inp = image.contiguous(memory_format=cl)
        x, y = self.embed_x(inp), self.embed_y(inp)

        skips = []
        for level, stage in enumerate(self.encoders):
            x = stage(x, y, d, records)
            skips.append((x, y))
            x = self.down_x[level](x).contiguous(memory_format=cl)
            y = self.down_y[level](y).contiguous(memory_format=cl)
        x = self.latent(x, y, d, records)
        for level in reversed(range(3)):
            skip_x, skip_y = skips[level]
            x = self.up_x[level](x).contiguous(memory_format=cl)
            y = self.up_y[level](y).contiguous(memory_format=cl)
            x = self.reduce_x[level](torch.cat([x, skip_x], dim=1))
            y = self.reduce_y[level](torch.cat([y, skip_y], dim=1))
            x = self.decoders[level](x, y, d, records)
        x = self.refinement(x, y, d, records)
        out = (self.output(x) + inp).contiguous()
        return (out, records) if trace else out
