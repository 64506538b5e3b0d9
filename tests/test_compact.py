"""training.data.compact: the corpus as small JPEGs, index kept, bad arguments refused."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from training.data import compact
from training.trainer.data import list_photos


def test_compact_copy_shrinks_long_sides_and_keeps_every_photo(tmp_path, photos):
    (photos / "index.json").write_text(json.dumps({p.name: {"split": "train"} for p in list_photos(photos, "train")}))
    out = tmp_path / "compact"
    assert compact.main(["--photos", str(photos), "--out", str(out), "--long-side", "64", "--val-long-side", "80"]) == 0
    for split, side in (("train", 64), ("val", 80)):
        sources, copies = list_photos(photos, split), list_photos(out, split)
        assert [p.stem for p in copies] == [p.stem for p in sources]
        for source, copy in zip(sources, copies):
            with Image.open(source) as a, Image.open(copy) as b:
                assert b.format == "JPEG" and max(b.size) == min(side, max(a.size))
                assert abs(b.size[0] / b.size[1] - a.size[0] / a.size[1]) < 0.05
    index = json.loads((out / "index.json").read_text())
    first = list_photos(photos, "train")[0].name
    assert index[first]["compact_file"] == f"train/{list_photos(photos, 'train')[0].stem}.jpg"


def test_compact_copy_stays_close_to_the_photo(tmp_path, photos):
    out = tmp_path / "compact"
    compact.compact_corpus(photos, out, long_side=4096, val_long_side=4096, quality=94)   # no resize: JPEG alone
    source, copy = list_photos(photos, "train")[0], list_photos(out, "train")[0]
    a = np.asarray(Image.open(source).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(copy), dtype=np.float64)
    assert 10 * np.log10(255**2 / np.mean((a - b) ** 2)) > 30   # the fixture is busier than a photo (34 dB)


def test_missing_corpus_and_bad_quality_are_one_line_errors(tmp_path, capsys):
    assert compact.main(["--photos", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert compact.main(["--quality", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err) and "none" in err[0]
