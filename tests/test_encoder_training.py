"""Encoder fine-tuning and evaluation end to end on a few photos (tiny random open_clip backbone)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as skdata
from safetensors import safe_open

from training import evaluate_encoder, train_encoder

TINY = ("encoder.clip_overrides={embed_dim: 32, vision_cfg: {image_size: 32, layers: 1, width: 64, patch_size: 16}, "
        "text_cfg: {context_length: 77, vocab_size: 49408, width: 32, heads: 2, layers: 1}}")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for split, names in (("train", ("astronaut", "coffee", "chelsea")), ("val", ("rocket",))):
        (root / split).mkdir()
        for name in names:
            Image.fromarray(getattr(skdata, name)()).resize((96, 80)).save(root / split / f"{name}.png")
    return root


def _args(photos, tmp, *extra):
    return ["--config", "training/configs/encoder_clip.yaml", f"photos={photos}", "encoder.clip_pretrained=null", TINY,
            "crops_per_class=2", "val_crops_per_class=1", "crop_sizes=[48]", "batch_size=8", "lr=0.003",
            f"cache_dir={tmp / 'cache'}", f"run_dir={tmp / 'run'}", f"out={tmp / 'tiny-adapters.safetensors'}", *extra]


def test_train_resume_and_evaluate(photos, tmp_path, capsys):
    assert train_encoder.main(_args(photos, tmp_path, "epochs=2")) == 0
    out = tmp_path / "tiny-adapters.safetensors"
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
    figures = json.loads(meta["training"])
    assert figures["train_samples"] == 3 * 7 * 2 and figures["val_samples"] == 7
    assert figures["loss_history"][-1] < figures["loss_history"][0]
    assert json.loads(meta["config"])["backbone"] == "clip"
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2

    assert train_encoder.main(_args(photos, tmp_path, "epochs=3", "resume=true")) == 0
    assert "resumed from" in capsys.readouterr().out
    with safe_open(str(out), framework="pt") as f:
        assert len(json.loads(f.metadata()["training"])["loss_history"]) == 1  # only epoch 3 ran

    code = evaluate_encoder.main([f"weights={out}", f"photos={photos}", "crops_per_class=2", "val_crops_per_class=1",
                                  "crop_sizes=[48]", f"cache_dir={tmp_path / 'cache'}", f"out_dir={tmp_path}"])
    assert code == 0
    report = json.loads((tmp_path / "tiny-eval.json").read_text())
    for key in ("before_linear_probe", "before_zero_shot", "after_fine_tuning"):
        assert np.array(report[key]["confusion_7"]).sum() == 7 and 0 <= report[key]["accuracy_7"] <= 1
    table = pd.read_parquet(tmp_path / "tiny-atlas.parquet")
    assert {"id", "degradation", "split", "raw", "adapted"} <= set(table.columns)
    images = table[table.kind == "image"]
    assert set(images.split) == {"train", "val"} and len(images[images.split == "val"]) == 7
    assert len(images.adapted.iloc[0]) == 512 and len(table[table.kind == "prompt"]) > 50


def test_bad_command_lines_fail_with_one_line(photos, tmp_path, capsys):
    assert train_encoder.main(_args(photos, tmp_path, "epochz=3")) == 1
    assert "unknown config key 'epochz'" in capsys.readouterr().err
    assert train_encoder.main(_args(photos, tmp_path, "loss=mse")) == 1
    assert train_encoder.main(["--config", str(tmp_path / "absent.yaml")]) == 1
