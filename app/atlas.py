"""Embedding atlas: UMAP of the degradation embeddings before and after fine-tuning (paper Sec. 3.3).

The table is the one ``training/evaluate_encoder.py`` writes beside the encoder adapters
(``assets/encoder/<name>-atlas.parquet``): image rows (``id``, ``degradation``, ``split``,
``raw`` = frozen backbone embedding, ``adapted`` = embedding after the adapters, ``predicted``)
and prompt rows (``kind == "prompt"``, ``text``, their embeddings).

* before: UMAP (cosine) of the image rows' ``raw`` vectors: what the frozen backbone sees;
* after: UMAP (cosine) of the image and prompt rows' ``adapted`` vectors, fitted together, so
  the prompts sit where the fine-tuning put them among the images.

Fitting takes tens of seconds (numba compiles umap's kernels), so the coordinates of the shipped
encoder's table are shipped too (``app/atlas_coords/``, written by ``python -m app.atlas``): the
first opening only reads them. Any other table is fitted on first use, never at import. Only the
fitted 2-D coordinates are kept, in an ``.npz`` keyed by the table's sha256 (read with
``allow_pickle=False``; nothing is ever unpickled), under ``cache_dir``. A new image is placed without the reducer: at the distance-weighted mean of the
coordinates of its nearest rows in embedding space (see :func:`place`).
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from core.encoder.registry import ASSETS as ENCODER_ASSETS, ENCODERS, DEFAULT as DEFAULT_ENCODER

COLUMNS = ("id", "kind", "degradation", "split", "text", "raw", "adapted")
UMAP_PARAMS = dict(n_neighbors=15, min_dist=0.15, metric="cosine", random_state=0, n_jobs=1)
PLACE_NEIGHBOURS = UMAP_PARAMS["n_neighbors"]
_VERSION = "v1"
SHIPPED = Path(__file__).resolve().parent / "atlas_coords"   # fitted coordinates of the shipped tables


class AtlasUnavailableError(FileNotFoundError):
    """No atlas table for the loaded encoder (the message names the command that writes it)."""


class AtlasTableError(ValueError):
    """The atlas table exists but is not in the expected format."""


def default_table_path(encoder: str | None = None) -> Path:
    """``assets/encoder/<stem>-atlas.parquet`` for a registered encoder name (None: the default)."""
    name = encoder or DEFAULT_ENCODER
    file = ENCODERS[name][0] if name in ENCODERS else Path(name).name
    stem = file.replace("-adapters.safetensors", "").replace(".safetensors", "")
    return (ENCODER_ASSETS if name in ENCODERS else Path(name).parent) / f"{stem}-atlas.parquet"


def load_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check an atlas table; raw/adapted become float32 matrices in ``df.attrs``."""
    path = Path(path)
    if not path.is_file():
        raise AtlasUnavailableError(f"no embedding atlas table at {path}; write it with "
                                    "`python -m training.evaluate_encoder` after training the encoder")
    df = pd.read_parquet(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise AtlasTableError(f"{path} is not an atlas table: missing columns {missing}")
    images = df[df["kind"] == "image"]
    if len(images) < 5:
        raise AtlasTableError(f"{path} has {len(images)} image rows; the atlas needs at least 5")
    for column in ("raw", "adapted"):
        lengths = {len(v) for v in df.loc[df["kind"] == "image", column]}
        if len(lengths) != 1:
            raise AtlasTableError(f"{path}: the {column!r} vectors of the image rows differ in length {sorted(lengths)}")
    if "predicted" not in df.columns:
        df["predicted"] = ""
    return df.reset_index(drop=True)


def _matrix(rows: pd.DataFrame, column: str) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=np.float32) for v in rows[column]])


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine geometry, the metric of the maps)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def place(unit_rows: np.ndarray, coords: np.ndarray, vector: np.ndarray, k: int = PLACE_NEIGHBOURS) -> tuple[float, float]:
    """Where ``vector`` (D) falls in a fitted map: the mean of the 2-D ``coords`` (N x 2) of its ``k``
    nearest rows of ``unit_rows`` (N x D, unit length) by cosine distance, weighted by 1 / distance.

    This is how umap's own ``UMAP.transform`` initialises a new point (``init_graph_transform``:
    a weighted mean of its neighbours' coordinates, weighted by their graph memberships), without
    the optimisation epochs that follow; so no fitted reducer has to be kept (or unpickled).
    """
    distance = 1.0 - unit_rows @ _unit(vector.reshape(-1))
    k = min(k, len(distance))
    nearest = np.argpartition(distance, k - 1)[:k]
    closest = nearest[np.argmin(distance[nearest])]
    if distance[closest] < 1e-6:  # a row of the table itself sits where it was fitted (as in umap)
        return float(coords[closest, 0]), float(coords[closest, 1])
    weights = 1.0 / np.maximum(distance[nearest], 1e-6)
    x, y = (weights[:, None] * coords[nearest]).sum(0) / weights.sum()
    return float(x), float(y)


@dataclass
class AtlasMaps:
    """The two maps: ``before`` (image rows) and ``after`` (image and prompt rows), each with x, y."""

    before: pd.DataFrame
    after: pd.DataFrame
    key: str


class Atlas:
    """UMAP maps of one table, fitted once and cached on disk (coordinates only); thread-safe."""

    def __init__(self, table_path: str | os.PathLike, cache_dir: str | os.PathLike,
                 reducer: Callable[..., object] | None = None):
        """``reducer(**UMAP_PARAMS)`` makes an object with ``fit(X)`` and ``embedding_`` (N x 2)
        (default ``umap.UMAP``; tests pass a cheap stand-in)."""
        self.table_path = Path(table_path)
        self.reducer = reducer
        self.cache_dir = Path(cache_dir)
        self._lock = threading.Lock()
        self._maps: AtlasMaps | None = None
        self._rows: tuple[np.ndarray, np.ndarray] | None = None  # unit raw (image rows), unit adapted (all rows)

    def _key(self) -> str:
        digest = hashlib.sha256(self.table_path.read_bytes()).hexdigest()[:16]
        kind = "umap" if self.reducer is None else getattr(self.reducer, "__name__", "custom").lower()
        return f"atlas-{digest}-{kind}-{_VERSION}"

    def maps(self) -> AtlasMaps:
        """The coordinates of both maps (fitting them on the first call without a cache)."""
        with self._lock:
            if self._maps is None:
                table = load_table(self.table_path)
                key = self._key()
                images = table[table["kind"] == "image"]
                coords = self.cache_dir / f"{key}-coords.npz"
                if not coords.is_file() and (SHIPPED / coords.name).is_file():
                    coords = SHIPPED / coords.name
                if coords.is_file():
                    with np.load(coords, allow_pickle=False) as saved:
                        before_xy, after_xy = saved["before"], saved["after"]
                else:
                    before_xy, after_xy = self._fit(table, key)
                before = images.drop(columns=["raw", "adapted"]).copy()
                after = table.drop(columns=["raw", "adapted"]).copy()
                before[["x", "y"]], after[["x", "y"]] = before_xy, after_xy
                self._rows = _unit(_matrix(images, "raw")), _unit(_matrix(table, "adapted"))
                self._maps = AtlasMaps(before, after, key)
            return self._maps

    def _fit(self, table: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
        if self.reducer is None:
            import umap  # imported here: it takes seconds
            self.reducer = umap.UMAP
        images = table[table["kind"] == "image"]
        params = {**UMAP_PARAMS, "n_neighbors": min(UMAP_PARAMS["n_neighbors"], len(images) - 1)}
        before = self.reducer(**params).fit(_matrix(images, "raw"))
        after = self.reducer(**params).fit(_matrix(table, "adapted"))
        before_xy, after_xy = before.embedding_.astype(np.float32), after.embedding_.astype(np.float32)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_dir / f"{key}-coords.tmp.npz"
        np.savez(tmp, before=before_xy, after=after_xy)
        os.replace(tmp, self.cache_dir / f"{key}-coords.npz")
        return before_xy, after_xy

    @property
    def dims(self) -> tuple[int, int]:
        """Lengths of the raw and adapted vectors (what a projected image must provide)."""
        self.maps()
        return self._rows[0].shape[1], self._rows[1].shape[1]

    def project(self, raw: np.ndarray, adapted: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
        """Place one image (raw and adapted embeddings, 1-D) in both maps with :func:`place`."""
        maps = self.maps()
        want = self.dims
        if raw.shape[-1] != want[0] or adapted.shape[-1] != want[1]:
            raise AtlasTableError(f"the loaded encoder gives {raw.shape[-1]}/{adapted.shape[-1]}-d embeddings, "
                                  f"the atlas table has {want[0]}/{want[1]}: they come from different encoders")
        raw_rows, adapted_rows = self._rows
        return (place(raw_rows, maps.before[["x", "y"]].to_numpy(np.float32), np.asarray(raw, np.float32)),
                place(adapted_rows, maps.after[["x", "y"]].to_numpy(np.float32), np.asarray(adapted, np.float32)))


def main(argv: list[str] | None = None) -> int:
    """Fit the maps of an atlas table with umap and write its coordinates to ``app/atlas_coords/``,
    so the studio opens the atlas at once: ``python -m app.atlas [TABLE]`` (default: the shipped encoder's)."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    parser.add_argument("table", nargs="?", default=str(default_table_path()))
    args = parser.parse_args(argv)
    atlas = Atlas(args.table, SHIPPED)
    maps = atlas.maps()
    print(f"{SHIPPED / (maps.key + '-coords.npz')}: {len(maps.before)} images, {len(maps.after)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
