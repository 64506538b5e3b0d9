"""Encoder fine-tuning and evaluation end to end on a few photos (tiny random open_clip backbone)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from safetensors import safe_open
from safetensors.torch import load_file

from core.encoder import DegradationEncoder

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


def _adapted(path, features):
    encoder = DegradationEncoder.from_pretrained(path)
    with torch.no_grad():
        return torch.nn.functional.normalize(encoder.adapt_image(features), dim=-1), encoder


def test_continuing_adapters_keeps_text_and_anchors_d_i(photos, tmp_path):
    first = tmp_path / "first.safetensors"
    assert train_encoder.main(_args(photos, tmp_path, "epochs=2", f"out={first}")) == 0
    features = next(f for f in (tmp_path / "cache").glob("*train*.safetensors"))
    features = load_file(str(features))["features"]
    start, start_encoder = _adapted(first, features)
    moved = {}
    for weight in (0.0, 50.0):
        out = tmp_path / f"anchor{weight}.safetensors"
        args = _args(photos, tmp_path, "epochs=3", "lr=0.01", f"init_from={first}", f"anchor_weight={weight}",
                     "freeze_text=true", f"out={out}", f"run_dir={tmp_path / str(weight)}")
        assert train_encoder.main(args) == 0
        after, encoder = _adapted(out, features)
        moved[weight] = float((1 - (after * start).sum(-1)).mean())
        for name, tensor in start_encoder.text_adapter.state_dict().items():
            assert torch.equal(tensor, encoder.text_adapter.state_dict()[name])
        assert torch.allclose(encoder.class_embeddings, start_encoder.class_embeddings)
    assert moved[0.0] > 0 and moved[50.0] < moved[0.0] / 2


def test_continuing_options_fail_with_one_line(photos, tmp_path, capsys):
    assert train_encoder.main(_args(photos, tmp_path, "anchor_weight=1.0")) == 1
    assert "need init_from" in capsys.readouterr().err
    assert train_encoder.main(_args(photos, tmp_path, "packages=[no-such-package]")) == 1
    assert "no train photos of packages ['no-such-package']" in capsys.readouterr().err
