"""training.compare: how a training run is named in the comparison table."""
from __future__ import annotations

import json

import pytest

from training.compare import run_entry, shipped_entry


def _fake_run(tmp_path, name, **config):
    folder = tmp_path / name / "checkpoints" / "step_00000300"
    folder.mkdir(parents=True)
    cfg = {"model": "vlunet-tiny", "guidance": "encoder", "batch_size": 8, "patch_size": 64, **config}
    (folder / "state.json").write_text(json.dumps({"step": 300, "config": cfg, "summary": {"parameters": 2_042_177}}))
    (folder / "model.safetensors").write_bytes(b"")
    (tmp_path / name / "latest.json").write_text(json.dumps({"step": 300, "checkpoint": "checkpoints/step_00000300"}))
    return tmp_path / name


@pytest.mark.parametrize("config, label", [
    ({}, "VLU-Net (encoder guidance) [vlunet-tiny, 2.04 M]"),
    ({"retrieval_lr_scale": 22.6}, "VLU-Net (encoder guidance, retrieval lr x22.6) [vlunet-tiny, 2.04 M]"),
    ({"guidance": "uniform"}, "(a) VLU-Net, uniform retrieval [vlunet-tiny, 2.04 M]"),
    ({"guidance": "uniform", "retrieval_lr_scale": 22.6}, "(a) VLU-Net, uniform retrieval [vlunet-tiny, 2.04 M]"),
    ({"model": "promptir-tiny", "guidance": "uniform"}, "(b) PromptIR-style end-to-end [promptir-tiny, 2.04 M]"),
])
def test_runs_are_labelled_by_model_guidance_and_retrieval_pace(tmp_path, config, label):
    got, budget, weights = run_entry(_fake_run(tmp_path, "run", **config))
    assert got == label
    assert budget == "300 steps x 8 patches of 64^2"
    assert weights.name == "model.safetensors"   # no EMA kept: the model weights


def test_a_run_without_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train it first"):
        run_entry(tmp_path / "empty")


@pytest.mark.parametrize("info, budget", [
    ({"hardware": "NVIDIA H100 80GB HBM3"}, "2000 steps x 32 patches of 128^2, 10 min wall on NVIDIA H100 80GB HBM3"),
    ({}, "2000 steps x 32 patches of 128^2, 10 min wall on a shared CPU thread"),
    ({"init_from": "runs/vlunet-tiny-retrieval/checkpoints/step_00002200/ema.safetensors"},
     "2000 steps x 32 patches of 128^2, 10 min wall on a shared CPU thread, continuing vlunet-tiny-retrieval"),
])
def test_shipped_files_name_their_budget_and_hardware(tmp_path, info, budget):
    import core
    path = core.save_model(core.create_model("vlunet-tiny", dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1),
                           tmp_path / "w.safetensors",
                           info={"steps": 2000, "batch_size": 32, "patch_size": 128, "train_time_s": 600, **info})
    label, got, weights = shipped_entry(path)
    assert (label, got, weights) == ("VLU-Net shipped (w.safetensors)", budget, path)


def test_by_task_counts_the_photos_each_method_makes_worse():
    import pandas as pd

    from training.compare import by_task, markdown
    long = pd.DataFrame([
        {"task": "noise_25", "image": i, "method": m, "input_psnr": 20.0, "psnr": p, "ssim": 0.5}
        for m, ps in (("degraded input", (20.0, 20.0)), ("TV denoising", (25.0, 19.0)), ("CBM3D (true sigma)", (28.0, 27.0)))
        for i, p in enumerate(ps)] + [
        {"task": "rain", "image": 0, "method": "3x3 median", "input_psnr": 27.0, "psnr": 26.0, "ssim": 0.8}])
    table = by_task(long, ["noise_25", "rain"])
    assert list(table["method"]) == ["CBM3D (true sigma)", "TV denoising", "degraded input", "3x3 median"]
    assert list(table["made worse"]) == ["0/2", "1/2", "0/2", "1/1"]
    assert list(table["blind"]) == ["no", "yes", "", "yes"]
    assert "| noise_25 | CBM3D (true sigma) | no" in markdown(table)
