"""Trainable adapters placed after the frozen towers (paper Sec. 3.3).

Shaped like the authors' `ad_imageEncoder` / `ad_textEncoder`:
`Linear(d, 512) LayerNorm act Linear(512, 512) LayerNorm act Linear(512, 512) LayerNorm` in an
`nn.Sequential` called `adapter`, so their keys (`adapter.0.weight`, ... `adapter.7.bias`) load
unchanged when the backbone is CLIP ViT-B-32 (d = 512). For other backbones the first Linear
takes the backbone's width d and doubles as the projection to 512.
"""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


class Adapter(nn.Module):
    """Three Linear + LayerNorm layers with an activation between them.

    Args:
        in_dim: width d of the frozen tower's embedding.
        out_dim: width of the adapted embedding (512 as in the paper).
        activation: "gelu" (the authors' network file) or "leaky_relu" (their notebook).
    """

    def __init__(self, in_dim: int, out_dim: int = 512, activation: str = "gelu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown adapter activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        act = ACTIVATIONS[activation]
        dims = [in_dim, out_dim, out_dim, out_dim]
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Linear(dims[i], dims[i + 1]), nn.LayerNorm(dims[i + 1])]
            if i < 2:
                layers.append(act())
        self.adapter = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B x d -> B x out_dim."""
        return self.adapter(x)
