"""Self-ensemble: the network on flipped and turned copies of the input, each turned back, averaged.

The "x8" (or "+") of restoration papers: a geometric self-ensemble trades k network passes for a
cleaner average at no training cost. ``mirror`` (identity and the left-right mirror: 2 passes,
the default of the shipped weights, :mod:`core.pretrained`) keeps the sky up, and ``flips``
(identity, horizontal and vertical flips, the half turn: 4 passes) keeps vertical structures
vertical, as rain streaks fall in training; ``dihedral`` adds the quarter turns (8 passes),
which lie rain streaks across the image.
Measured gains and times: docs/results.md.
"""
from __future__ import annotations

import torch

from .tiling import TensorFn

#: ``ensemble=`` name -> the :func:`dihedral` modes whose restorations are averaged.
ENSEMBLES = {"none": (0,), "mirror": (0, 4), "flips": (0, 2, 4, 6), "dihedral": tuple(range(8))}


def dihedral(x: torch.Tensor, mode: int) -> torch.Tensor:
    """One of the 8 dihedral transforms of ... x H x W (mode 0..7: a quarter turn k = mode % 4
    times, then a horizontal flip if mode >= 4)."""
    x = torch.rot90(x, mode % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if mode >= 4 else x


def undo_dihedral(x: torch.Tensor, mode: int) -> torch.Tensor:
    """The inverse of :func:`dihedral`: ``undo_dihedral(dihedral(x, m), m) == x``."""
    x = torch.flip(x, dims=(-1,)) if mode >= 4 else x
    return torch.rot90(x, -(mode % 4), dims=(-2, -1))


def check_ensemble(ensemble: str | None) -> str:
    """``ensemble`` (None: "none") checked against :data:`ENSEMBLES` (one-line ValueError)."""
    ensemble = ensemble or "none"
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLES)}, got {ensemble!r}")
    return ensemble


def self_ensemble(fn: TensorFn, ensemble: str = "none") -> TensorFn:
    """``fn`` (B x 3 x h x w -> same) averaged over the transforms of ``ensemble``; ``fn`` itself
    for "none". h and w must both be multiples of the network's multiple (quarter turns swap them)."""
    modes = ENSEMBLES[check_ensemble(ensemble)]
    if modes == (0,):
        return fn

    def averaged(x: torch.Tensor) -> torch.Tensor:
        total = None
        for mode in modes:
            out = undo_dihedral(fn(dihedral(x, mode)), mode).float()
            total = out if total is None else total.add_(out)
        return total / len(modes)
    return averaged
