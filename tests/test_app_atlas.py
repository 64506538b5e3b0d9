"""The studio's atlas (app.atlas): its table, the before/after maps, where an image is placed,
and the cache of fitted coordinates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app import handlers, plots, views
from app.atlas import Atlas, AtlasTableError, AtlasUnavailableError, load_table
from app.testing import PCAReducer, synthetic_atlas_table
from core.degradations import CANONICAL

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tiny images: one thread is faster on a shared CPU


def test_atlas_table_errors(tmp_path):
    with pytest.raises(AtlasUnavailableError, match="evaluate_encoder"):
        load_table(tmp_path / "none.parquet")
    pd.DataFrame({"id": ["a"], "kind": ["image"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(AtlasTableError, match="missing columns"):
        load_table(tmp_path / "bad.parquet")
    figs = views.atlas_figures(Atlas(tmp_path / "none.parquet", tmp_path / "cache"))
    assert figs[2].startswith("⚠️") and "evaluate_encoder" in figs[2]


def test_atlas_figures_place_the_last_image(holder, tmp_path, make_photo):
    table = synthetic_atlas_table(holder.get().encoder, tmp_path / "atlas.parquet", per_class=2)
    atlas = Atlas(table, tmp_path / "cache", reducer=PCAReducer)
    session = handlers.restore(holder, make_photo(tmp_path / "scene.png"), "auto", "", "auto").session
    before, after, note = views.atlas_figures(atlas, session)
    assert {t.name for t in before.data} == {handlers.plots.DISPLAY[n] for n in CANONICAL}
    prompts = "class prompts (text)"
    assert prompts in {t.name for t in after.data} and prompts not in {t.name for t in before.data}
    assert {a.text for a in after.layout.annotations} == {f"“{plots.DISPLAY[n]}”" for n in CANONICAL}  # labelled
    assert "modality gap" in note
    before, after, note = views.atlas_figures(atlas, session, holder, project=True)
    for fig in (before, after):
        star = [t for t in fig.data if t.name == "your image"]
        assert len(star) == 1 and np.isfinite(star[0].x[0]) and np.isfinite(star[0].y[0])
        colour = star[0].marker.color   # no class is drawn in the star's colour
        assert colour not in plots.COLORS.values() and star[0].marker.line.color == "black"
    assert "★" in note
    with pytest.raises(AtlasTableError, match="different encoders"):  # an image embedded by another encoder
        atlas.project(np.zeros(3, np.float32), np.zeros(3, np.float32))


def test_atlas_places_an_image_among_its_nearest_rows_and_keys_the_cache_on_the_table(holder, tmp_path):
    from app.atlas import place
    rows = np.eye(4, dtype=np.float32)
    coords = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    assert place(rows, coords, np.array([0, 3, 0, 0], np.float32), k=2) == (10.0, 0.0)  # on a row: its coordinates
    x, y = place(rows, coords, np.array([1, 1, 0, 0], np.float32), k=2)
    assert (x, y) == pytest.approx((5.0, 0.0))  # halfway between its two equally near neighbours
    x, y = place(rows, coords, np.array([3, 1, 0, 0], np.float32), k=2)
    assert 0 < x < 5 and y == pytest.approx(0.0)  # nearer the closer neighbour

    table = synthetic_atlas_table(holder.get().encoder, tmp_path / "atlas.parquet", per_class=2)
    atlas = Atlas(table, tmp_path / "cache", reducer=PCAReducer)
    first = atlas.maps().key
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{first}-coords.npz"]
    df = pd.read_parquet(table)
    df.loc[0, "degradation"] = "haze" if df.loc[0, "degradation"] != "haze" else "rain"
    df.to_parquet(table, index=False)
    assert Atlas(table, tmp_path / "cache", reducer=PCAReducer).maps().key != first  # the table changed


@pytest.mark.slow
def test_umap_atlas_is_fitted_once_cached_and_projects(holder, tmp_path):
    table = synthetic_atlas_table(holder.get().encoder, tmp_path / "atlas.parquet", per_class=3)
    atlas = Atlas(table, tmp_path / "cache")
    maps = atlas.maps()
    assert len(maps.before) == 21 and len(maps.after) == 28
    assert np.isfinite(maps.after[["x", "y"]].to_numpy()).all()
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [n.split("-umap-")[-1] for n in names] == ["v1-coords.npz"], names  # coordinates only, no pickle

    def no_fit(**_):
        raise AssertionError("the cached coordinates should have been used")
    cached = Atlas(table, tmp_path / "cache")
    cached.reducer = None
    cached._fit = no_fit  # a second studio reads the cache instead of fitting
    again = cached.maps()
    assert np.allclose(again.before[["x", "y"]].to_numpy(), maps.before[["x", "y"]].to_numpy())
    df = load_table(table)
    raw, adapted = (np.asarray(df[c].iloc[0], np.float32) for c in ("raw", "adapted"))
    (bx, by), (ax, ay) = cached.project(raw, adapted)  # a row of the table lands where it was fitted
    assert (bx, by) == pytest.approx(tuple(maps.before[["x", "y"]].iloc[0]), abs=1e-5)
    assert (ax, ay) == pytest.approx(tuple(maps.after[["x", "y"]].iloc[0]), abs=1e-5)
    (bx, by), _ = cached.project(raw + 0.05 * np.random.default_rng(0).standard_normal(raw.shape), adapted)
    xs, ys = maps.before["x"], maps.before["y"]
    assert xs.min() <= bx <= xs.max() and ys.min() <= by <= ys.max()  # a mean of map points stays inside the map
