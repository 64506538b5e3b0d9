"""Patch sampler: seeded crops and augmentations, repeat factors, worker-safe determinism."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from training.data.datasets import denoise_pairs, rain100l_pairs
from training.data.patches import PatchDataset, RealTask, SyntheticTask


def photo(path, size=(90, 70), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    return tuple(photo(tmp_path / f"p{i}.png", seed=i) for i in range(3))


def test_synthetic_items(photos):
    ds = PatchDataset([SyntheticTask("haze", photos, repeat=2), SyntheticTask("haze+noise_25", photos)],
                      patch_size=32, seed=0)
    assert len(ds) == 9
    d, c, label, summary = ds[0]
    assert d.shape == c.shape == (3, 32, 32) and 0 <= d.min() and d.max() <= 1
    assert label == 3  # haze in the authors' order
    info = json.loads(summary)
    assert info["task"] == "haze" and "beta" in info["params"] and info["source"] == "p0.png"
    assert ds[8][2] == -1 and "noise_25" in json.loads(ds[8][3])["params"]


def test_seeded_and_epoch_dependent(photos):
    make = lambda seed: PatchDataset([SyntheticTask("rain", photos)], patch_size=32, seed=seed)  # noqa: E731
    a, b = make(0), make(0)
    assert torch.equal(a[1][0], b[1][0]) and a[1][3] == b[1][3]
    assert not torch.equal(a[1][0], make(1)[1][0])
    b.set_epoch(1)
    assert not torch.equal(a[1][1], b[1][1])


def test_same_patches_with_worker_processes(photos):
    ds = PatchDataset([SyntheticTask("noise_50", photos, repeat=2)], patch_size=24, seed=7)
    serial = [x for x, *_ in DataLoader(ds, batch_size=2, num_workers=0)]
    parallel = [x for x, *_ in DataLoader(ds, batch_size=2, num_workers=2)]
    assert all(torch.equal(s, p) for s, p in zip(serial, parallel)) and len(serial) == 3


def test_real_pairs_stay_aligned(tmp_path):
    for i in (1, 2):
        c = photo(tmp_path / f"r/gt/norain-{i}.png", size=(50, 40), seed=i)
        arr = np.asarray(Image.open(c)).astype(np.int16)
        (tmp_path / "r/rainy").mkdir(exist_ok=True)
        Image.fromarray(np.clip(arr + 5, 0, 255).astype(np.uint8)).save(tmp_path / f"r/rainy/rain-{i}.png")
    ds = PatchDataset([RealTask("rain", tuple(rain100l_pairs(tmp_path / "r")), repeat=3)], patch_size=16, seed=0)
    assert len(ds) == 6
    for k in range(6):
        d, c, label, _ = ds[k]
        diff = (d - c) * 255
        assert label == 4 and torch.allclose(diff[c < 0.97], torch.tensor(5.0), atol=1e-3)


def test_real_denoise_and_small_images(tmp_path):
    photo(tmp_path / "bsd/1.png", size=(20, 12))
    ds = PatchDataset([RealTask("noise", tuple(denoise_pairs(tmp_path / "bsd", sigmas=(25,))))], patch_size=32)
    d, c, label, summary = ds[0]
    assert d.shape == (3, 32, 32) and label == 1 and json.loads(summary)["params"]["sigma"] == 25.0
    assert 10 < ((d - c) * 255).std() < 30
