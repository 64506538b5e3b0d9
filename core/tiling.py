"""Padding to the network's multiple and overlapping-tile processing for large images.

``fn`` below is any map B x 3 x h x w -> B x 3 x h x w defined for h, w multiples of
``multiple`` (the network with its degradation vector fixed).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

TensorFn = Callable[[torch.Tensor], torch.Tensor]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad B x C x H x W on the bottom and right up to multiples of ``multiple``.

    Reflection padding (no artificial edge), falling back to edge replication where the image
    is too small to reflect (reflection needs the pad to be smaller than the side).
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def apply_padded(fn: TensorFn, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``fn`` on ``x`` padded to the multiple, cropped back to x's size."""
    h, w = x.shape[-2:]
    return fn(pad_to_multiple(x, multiple))[..., :h, :w]


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _window(n: int, ramp: int, at_start: bool, at_end: bool, device) -> torch.Tensor:
    """1-D blending weights: raised-cosine ramps of ``ramp`` pixels on inner edges, 1 elsewhere.

    Edges on the image border get no ramp. Weights stay strictly positive, so every pixel
    has a defined blend.
    """
    w = torch.ones(n, device=device)
    if ramp <= 0:
        return w
    r = min(ramp, n // 2)
    up = torch.sin(0.5 * math.pi * (torch.arange(r, device=device) + 0.5) / r) ** 2
    if not at_start:
        w[:r] = up
    if not at_end:
        w[n - r:] = torch.minimum(w[n - r:], up.flip(0))
    return w


def apply_tiled(fn: TensorFn, x: torch.Tensor, tile: int, overlap: int, multiple: int,
                on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """``fn`` over overlapping ``tile`` x ``tile`` windows of x (B x C x H x W), blended smoothly.

    Tiles step by ``tile - overlap``; overlaps are blended with raised-cosine weights, so no
    seams show. Each tile is padded to ``multiple`` as needed. Memory: the input, one output
    accumulator and one weight map, plus one tile's activations. ``on_tile(done, total)`` is
    called after each tile (progress bars).
    """
    if tile % multiple or tile <= 0:
        raise ValueError(f"tile must be a positive multiple of {multiple}, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap}")
    b, c, h, w = x.shape
    ys, xs = _starts(h, tile, tile - overlap), _starts(w, tile, tile - overlap)
    out = torch.zeros_like(x)
    norm = torch.zeros((1, 1, h, w), dtype=x.dtype, device=x.device)
    total, done = len(ys) * len(xs), 0
    for y0 in ys:
        th = min(tile, h - y0)
        wy = _window(th, overlap, y0 == 0, y0 + th == h, x.device)
        for x0 in xs:
            tw = min(tile, w - x0)
            wx = _window(tw, overlap, x0 == 0, x0 + tw == w, x.device)
            patch = apply_padded(fn, x[..., y0:y0 + th, x0:x0 + tw], multiple)
            weight = (wy[:, None] * wx[None, :])[None, None]
            out[..., y0:y0 + th, x0:x0 + tw] += patch * weight
            norm[..., y0:y0 + th, x0:x0 + tw] += weight
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    return out.div_(norm)
