"""Small stand-ins for tests and benchmarks: a random-weight restorer and an atlas table in the
shipped format, so the studio can be exercised before (or without) the shipped weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import core
from core.degradations import CANONICAL, degrade
from core.encoder import DegradationEncoder, EncoderConfig
from core.one_by_one import TYPES

from .atlas_photos import image_row, prompt_row, write_table

TINY_NET = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, ffn_expansion_factor=2.0)
TINY_CLIP = dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=16),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))


def tiny_encoder(seed: int = 0) -> DegradationEncoder:
    """A tiny randomly initialised CLIP-backbone encoder (no download)."""
    torch.manual_seed(seed)
    cfg = EncoderConfig(backbone="clip", clip_pretrained=None, clip_overrides=TINY_CLIP)
    return DegradationEncoder(cfg).freeze()


def tiny_restorer(config=None, encoder: bool = True, model: str | None = None, seed: int = 0,
                  specialists: tuple[str, ...] = (), ensemble: str = "none") -> tuple[core.Restorer, str]:
    """A seeded random-weight restorer (tiny VLU-Net, or the registered ``model``) and its note.
    ``specialists``: degradation types given a one-by-one specialist each, a network of the same
    architecture with its own seed (the all-in-one network and encoder are those without them).
    ``ensemble``: its default self-ensemble (:attr:`core.Restorer.default_ensemble`).

    Signature of an ``app.state.ModelHolder`` factory: ``tiny_restorer(config)``.
    """
    def network(net_seed: int) -> core.VLUNet:
        torch.manual_seed(net_seed)
        return (core.create_model(model) if model else core.VLUNet(**TINY_NET)).eval()

    all_in_one = network(seed)
    enc = tiny_encoder(seed) if encoder else None
    nets = {kind: network(seed + 1 + TYPES.index(kind)) for kind in specialists}
    note = f"random-weight `{model or 'tiny'}` network (test stand-in)"
    if nets:
        note += f", one-by-one specialists: {', '.join(nets)}"
    return core.Restorer(all_in_one, enc, specialists=nets, ensemble=ensemble), note


def synthetic_atlas_table(encoder: DegradationEncoder, path: str | Path, per_class: int = 4, seed: int = 0) -> Path:
    """Write an atlas parquet with the columns of ``training/evaluate_encoder.py`` from synthetic scenes."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for label in CANONICAL:
        for i in range(per_class):
            base = torch.rand(1, 3, 8, 8, generator=g)
            clean = torch.nn.functional.interpolate(base, size=(64, 64), mode="bilinear", align_corners=False)
            image, _ = degrade(clean, label, g)
            split = "val" if i % 2 else "train"
            rows.append(image_row(encoder, image, f"{split}/scene{i}/{label}/{i}", label, split))
    rows += [prompt_row(encoder, f"a photo with {label.replace('_', ' ')}", label, "authors_prompt") for label in CANONICAL]
    return write_table(rows, path)


class PCAReducer:
    """A cheap stand-in for ``umap.UMAP`` (the fit / embedding_ surface the atlas uses): the first two
    principal components of the unit-normalised vectors (cosine geometry). Used by the UI tests, so
    that only the atlas test pays umap's compilation."""

    def __init__(self, **_params):
        self.mean_ = self.components_ = self.embedding_ = None

    @staticmethod
    def _unit(x):
        x = np.asarray(x, dtype=np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def fit(self, x):
        x = self._unit(x)
        self.mean_ = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
        self.components_ = vt[:2]
        self.embedding_ = self.transform(x)
        return self

    def transform(self, x):
        return ((self._unit(x) - self.mean_) @ self.components_.T).astype(np.float32)
