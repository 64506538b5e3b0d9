"""Settings of the studio (typed, frozen); ``AppConfig.from_env()`` reads ``VLUNET_*`` overrides."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AppConfig:
    """What the studio loads and how much it accepts.

    model: registered weights name or checkpoint path (None: the shipped default); a checkpoint of
        the authors' (``pretrained_ckpt/3task_vlunet.ckpt``, their folder, or its safetensors
        conversion) loads their whole pipeline, CLIP and adapters included.
    official: the authors' checkpoint or ``pretrained_ckpt/`` folder whose checkpoints the page
        offers beside the shipped models (None: only ``model`` and the shipped ones).
    clip_config: open_clip ``CLIP`` arguments (JSON) of an authors' checkpoint whose CLIP is not
        ViT-B-32 (None: ViT-B-32).
    memory_budget_gb: activation memory one restore may use; a network that would need more for
        an image restores it in tiles sized to fit (``core.Restorer.auto_tile``).
    encoder: registered encoder name ("offline", "clip"), a file, or None for the default.
    max_pixels / max_file_mb: upload limits, checked from the file's header before any pixel
        is decoded (clear messages; decompression bombs are refused the same way).
    max_aspect: longest side over shortest side accepted (a 1×20000 strip is refused: the
        encoder sees a centre square of the picture, and its resized view would be gigapixels).
    queue_size: requests waiting at most; ``concurrency``: restores running at once (one: a
        restore already uses every core torch is given).
    trace_max_pixels: above this size the unfolding trace is not recorded (it needs an
        untiled pass, and tiling starts at one megapixel).
    state_sessions: sessions whose state (last restore, drawn stages: ~5 MB each) is kept; the
        oldest beyond it is forgotten (gradio's ``state_session_capacity``).
    atlas_table: the encoder atlas parquet (None: the one beside the loaded encoder).
    cache_dir: where the UMAP fits and restored PNGs are kept.
    """

    model: str | None = None
    official: str | None = None
    clip_config: str | None = None
    memory_budget_gb: float = 3.0
    encoder: str | None = None
    device: str = "cpu"
    max_pixels: int = 8_000_000
    max_file_mb: float = 25.0
    max_aspect: float = 32.0
    queue_size: int = 16
    concurrency: int = 1
    trace_max_pixels: int = 1024 * 1024
    state_sessions: int = 200
    atlas_table: str | None = None
    cache_dir: str = str(ROOT / "data" / "cache" / "app")
    examples_dir: str = str(ROOT / "assets" / "examples")

    @classmethod
    def from_env(cls, **overrides) -> "AppConfig":
        """Defaults, then ``VLUNET_<FIELD>`` environment variables, then ``overrides``."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"VLUNET_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls(), f.name))
            values[f.name] = kind(raw) if kind in (int, float) else raw
        return replace(cls(), **{**values, **overrides})

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)
