"""Real-dataset loaders on tiny generated folder trees: pairing, suites, bad layouts, bad files."""

import numpy as np
import pytest
import torch
from PIL import Image

from training.data.datasets import (PairedImages, cbsd68_pairs, denoise_pairs, gopro_pairs, lol_pairs,
                                    rain100l_pairs, reside_pairs)
from training.data.layout import DatasetLayoutError, pairs_from_txt
from training.data.suites import eval_sets, train_pairs


def img(path, value=100, size=(20, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    Image.fromarray(arr).save(path)
    return path


def make_tree(root):
    for i in (1, 2):
        img(root / f"Train/Denoise/BSD400/{i}.png")
        img(root / f"Train/Denoise/WED/w{i}.bmp")
        img(root / f"Train/Derain/rainy/rain-{i}.png", 200)
        img(root / f"Train/Derain/gt/norain-{i}.png", 50)
        img(root / f"Train/Dehaze/original/000{i}.jpg", 50)
        img(root / f"Train/Dehaze/synthetic/part1/000{i}_0.8_0.2.jpg", 200)
        img(root / f"Train/Dehaze/synthetic/part1/000{i}_0.9_0.1.jpg", 210)
        img(root / f"Train/Deblur/GOPR0372_07_00/blur/00000{i}.png", 1)
        img(root / f"Train/Deblur/GOPR0372_07_00/sharp/00000{i}.png", 2)
        img(root / f"Train/Lowlight/low/{i}.png", 5)
        img(root / f"Train/Lowlight/high/{i}.png", 120)
        img(root / f"Test/denoise/CBSD68/original_png/{i}.png")
        img(root / f"Test/derain/Rain100L/input/{i}.png", 200)
        img(root / f"Test/derain/Rain100L/target/{i}.png", 50)
        img(root / f"Test/dehaze/SOTS/hazy/000{i}_0.8_0.2.jpg", 200)
        img(root / f"Test/dehaze/SOTS/gt/000{i}.png", 50)
        img(root / f"Test/deblur/GoPro/GOPR0384_11_00/blur/00000{i}.png")
        img(root / f"Test/deblur/GoPro/GOPR0384_11_00/sharp/00000{i}.png")
        img(root / f"Test/lowlight/LOL/low/{i}.png", 5)
        img(root / f"Test/lowlight/LOL/high/{i}.png", 120)
    return root


def test_single_loaders_pair_by_name(tmp_path):
    root = make_tree(tmp_path)
    rain = rain100l_pairs(root / "Train/Derain")
    assert [(p.degraded.name, p.clean.name) for p in rain] == [("rain-1.png", "norain-1.png"), ("rain-2.png", "norain-2.png")]
    haze = reside_pairs(root / "Train/Dehaze")
    assert len(haze) == 4 and all(p.degraded.stem.split("_")[0] == p.clean.stem for p in haze)
    assert len(gopro_pairs(root / "Train/Deblur")) == 2 and len(lol_pairs(root / "Train/Lowlight")) == 2
    noise = denoise_pairs(root / "Train/Denoise")
    assert len(noise) == 12 and {p.task for p in noise} == {"noise_15", "noise_25", "noise_50"}
    assert all(p.degraded is None for p in noise)


def test_suites(tmp_path):
    root = make_tree(tmp_path)
    three = train_pairs(root, "3task")
    assert set(three) == {"noise_15", "noise_25", "noise_50", "rain", "haze"}
    five = train_pairs(root, "5task")
    assert set(five) == set(three) | {"blur", "low_light"}
    t3, t5 = eval_sets(root, "3task"), eval_sets(root, "5task")
    assert set(t3) == {"cbsd68_15", "cbsd68_25", "cbsd68_50", "rain100l", "sots_outdoor"}
    assert set(t5) == {"cbsd68_25", "rain100l", "sots_outdoor", "gopro", "lol"}
    with pytest.raises(ValueError):
        train_pairs(root, "7task")


def test_paired_images_items_and_fixed_test_noise(tmp_path):
    root = make_tree(tmp_path)
    data = PairedImages(cbsd68_pairs(root / "Test/denoise/CBSD68", 25))
    a, b = data[0], data[0]
    assert a["degraded"].shape == a["clean"].shape == (3, 16, 20) and a["task"] == "noise_25"
    assert torch.equal(a["degraded"], b["degraded"])  # reproducible test noise
    assert torch.allclose(a["degraded"] * 255, (a["degraded"] * 255).round(), atol=1e-4)  # 8-bit like the benchmarks
    rain = PairedImages(rain100l_pairs(root / "Test/derain/Rain100L"))[1]
    assert rain["degraded"].mean() > rain["clean"].mean()
    noisy = img(root / "Test/denoise/CBSD68/noisy15/1.png", 90)
    pairs = cbsd68_pairs(root / "Test/denoise/CBSD68", 15)
    assert [p.degraded for p in pairs] == [noisy]


@pytest.mark.parametrize("loader,sub,missing", [
    (rain100l_pairs, "Train/Derain", "gt"), (reside_pairs, "Train/Dehaze", "original"),
    (lol_pairs, "Train/Lowlight", "high")])
def test_misnamed_folder_shows_layout(tmp_path, loader, sub, missing):
    root = make_tree(tmp_path)
    (root / sub / missing).rename(root / sub / "wrongname")
    with pytest.raises(DatasetLayoutError, match="expected layout") as err:
        loader(root / sub)
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        loader(tmp_path / "nowhere")


def test_bad_layouts(tmp_path):
    with pytest.raises(DatasetLayoutError, match="blur"):
        (tmp_path / "scene").mkdir()
        gopro_pairs(tmp_path)
    img(tmp_path / "r/rainy/rain-1.png")
    img(tmp_path / "r/gt/other.png")
    with pytest.raises(DatasetLayoutError, match="no matching names"):
        rain100l_pairs(tmp_path / "r")
    with pytest.raises(DatasetLayoutError, match="Train"):
        train_pairs(tmp_path / "absent")


def test_unreadable_files_are_skipped_with_a_count(tmp_path):
    root = make_tree(tmp_path)
    (root / "Train/Lowlight/low/3.png").write_bytes(b"not an image")
    img(root / "Train/Lowlight/high/3.png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        pairs = lol_pairs(root / "Train/Lowlight")
    assert len(pairs) == 2
    # a file that breaks after listing (truncated) is replaced at load time, training goes on
    good = img(root / "Train/Lowlight/high/2.png", 120, size=(64, 48))
    img(root / "Train/Lowlight/low/2.png", 5, size=(64, 48))
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = PairedImages(lol_pairs(root / "Train/Lowlight"))
    good.write_bytes(good.read_bytes()[:60])
    with pytest.warns(UserWarning, match="1 skipped so far"):
        item = data[1]
    assert item["name"] == "1" and data.skipped == 1


def test_pair_lists(tmp_path):
    make_tree(tmp_path)
    txt = tmp_path / "list.txt"
    txt.write_text("# degraded clean\nTrain/Derain/rainy/rain-1.png Train/Derain/gt/norain-1.png\n\n"
                   "Train/Derain/rainy/rain-2.png,Train/Derain/gt/norain-2.png\n"
                   "Train/Derain/rainy/missing.png Train/Derain/gt/norain-2.png\n")
    with pytest.warns(UserWarning, match="skipped 1 pair"):
        pairs = pairs_from_txt(txt, "rain")
    assert len(pairs) == 2 and pairs[1].clean.name == "norain-2.png"
    txt.write_text("only-one-path.png\n")
    with pytest.raises(DatasetLayoutError, match="degraded clean"):
        pairs_from_txt(txt, "rain")
    with pytest.raises(DatasetLayoutError, match="not found"):
        pairs_from_txt(tmp_path / "nope.txt", "rain")
