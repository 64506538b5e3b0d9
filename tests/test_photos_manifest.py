"""Clean-photo corpus: curated manifest integrity, corpus builder (idempotent, hash-checked)."""

import csv
import hashlib

import numpy as np
import pytest
from PIL import Image

from training.data import photos
from training.data.photos import MAX_SIDE, PhotoCorpusError, build_corpus, photo_paths, read_manifest


VAL_PHOTOS = {
    "lomiri-wallpapers-16.04__aitzgorri_by_Aitzol_Berasategi.png",
    "lomiri-wallpapers-16.04__friends_by_Aitzol_Berasategi.png",
    "mate-backgrounds__nature_Dune.png", "mate-backgrounds__nature_LadyBird.png",
    "plasma-workspace-wallpapers__wallpapers_EveningGlow_contents_images_2560x1600.png",
    "opencv-doc__data_fruits.png", "opencv-doc__data_messi5.png", "opencv-doc__data_building.png",
    "opencv-doc__hfs_data_002.png"}


def test_manifest_integrity():
    rows = read_manifest()
    assert len(rows) >= 50
    for key in ("sha256", "file", "name"):
        values = [getattr(r, key) for r in rows]
        assert len(set(values)) == len(values), key
    assert all(r.licence and r.description for r in rows)
    train = {r.name for r in rows if r.split == "train"}
    val = {r.name for r in rows if r.split == "val"}
    assert not train & val and 0.1 <= len(val) / len(rows) <= 0.2
    assert len({r.package for r in rows if r.split == "val"}) >= 4  # varied validation content
    assert len(train) == 69
    assert val == VAL_PHOTOS  # fixed: every recorded comparison is on these 9
    assert {r.package for r in rows} == {"plasma-workspace-wallpapers", "lomiri-wallpapers-16.04",
                                         "lomiri-wallpapers-20.04", "mate-backgrounds", "opencv-doc",
                                         "lxqt-themes", "forensics-samples-files", "palapeli-data",
                                         "sddm-theme-maldives", "digikam-data", "libjxl-testdata",
                                         "librust-jpeg-decoder-dev"}


def _fake_package(tmp_path, sizes):
    root = tmp_path / "pkg"
    rows = []
    for i, size in enumerate(sizes):
        f = f"usr/share/backgrounds/img{i}.jpg"
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        arr = np.random.default_rng(i).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f)
        rows.append({"file": f, "package": "fakepkg", "sha256": hashlib.sha256((root / f).read_bytes()).hexdigest(),
                     "licence": "CC0-1.0", "split": "val" if i else "train", "description": f"test {i}"})
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root, manifest


def test_build_is_idempotent_checks_hashes_and_downscales(tmp_path, monkeypatch):
    root, manifest = _fake_package(tmp_path, [(2100, 60), (40, 30)])
    calls = []
    monkeypatch.setattr(photos, "_fetch_packages", lambda pkgs, work: calls.append(pkgs) or {"fakepkg": root})
    out = tmp_path / "out"
    index = build_corpus(out, manifest, log=lambda m: None)
    sizes = sorted((v["width"], v["height"]) for v in index.values())
    assert sizes == [(40, 30), (MAX_SIDE, 59)] and len(calls) == 1
    assert len(list((out / "train").glob("*.png"))) == 1 and len(list((out / "val").glob("*.png"))) == 1
    messages = []
    build_corpus(out, manifest, log=messages.append)
    assert len(calls) == 1 and "up to date" in messages[0]
    (root / "usr/share/backgrounds/img1.jpg").write_bytes(b"changed")
    (out / "index.json").unlink()
    with pytest.raises(PhotoCorpusError, match="sha256"):
        build_corpus(out, manifest, log=lambda m: None)


def test_clear_message_without_apt(tmp_path, monkeypatch, capsys):
    _, manifest = _fake_package(tmp_path, [(20, 20)])
    monkeypatch.setattr(photos.shutil, "which", lambda name: None)
    assert photos.main(["--out", str(tmp_path / "o"), "--manifest", str(manifest)]) == 1
    err = capsys.readouterr().err.strip()
    assert "apt-get" in err and "\n" not in err


def test_photo_paths(tmp_path):
    rows = read_manifest()
    for r in rows[:3]:
        (tmp_path / r.split / r.name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / r.split / r.name).write_bytes(b"x")
    (tmp_path / "train" / "not_in_manifest.png").write_bytes(b"x")
    got = photo_paths(tmp_path, "train")
    assert got == sorted(got) and all(p.name in {r.name for r in rows} for p in got) and len(got) == 3
    with pytest.raises(PhotoCorpusError, match="python -m training.data.photos"):
        photo_paths(tmp_path, "val")
    with pytest.raises(ValueError):
        photo_paths(tmp_path, "test")
