"""The restoration trainer: config errors, one-step runs, SIGKILL + resume bit-exactness, DDP (gloo)."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import core
from training import train_restorer
from training.trainer import TrainConfig, TrainConfigError, learning_rate, parse_args
from training.trainer import loop as loop_module

ROOT = Path(__file__).resolve().parent.parent
TINY = ["model_overrides.dim=8", "model_overrides.num_blocks=[1,1,1,1]", "model_overrides.num_refinement_blocks=1",
        "patch_size=32", "batch_size=2", "val_crop=32", "threads=1", "progress=false", "warmup_steps=2",
        "checkpoint_minutes=0"]


def make_photos(root: Path, train: int = 3, val: int = 2) -> Path:
    """Smooth random colour photos, 72 x 88, in <root>/{train,val}."""
    g = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            yy, xx = np.mgrid[0:72, 0:88] / 88.0
            img = np.stack([np.sin(6 * yy * g.uniform(0.5, 2) + c + xx * g.uniform(1, 4)) for c in range(3)], -1)
            img = (0.5 + 0.4 * img + 0.05 * g.standard_normal(img.shape)).clip(0, 1)
            Image.fromarray((img * 255).astype(np.uint8)).save(root / split / f"p{i}.png")
    return root


@pytest.fixture
def photos(tmp_path) -> Path:
    return make_photos(tmp_path / "photos")


pytestmark = pytest.mark.usefixtures("one_thread")


def args(tmp_path: Path, photos: Path, name: str, *extra: str) -> list[str]:
    return [f"name={name}", f"out_dir={tmp_path / 'runs'}", f"photos={photos}", *TINY, *extra]


def test_unknown_key_is_one_line_error_naming_it(tmp_path, capsys):
    assert train_restorer.main(["learning_rate=0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'learning_rate'" in err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\nbatchsize: 4\n")
    with pytest.raises(TrainConfigError, match="'batchsize'"):
        parse_args(["--config", str(cfg)])


@pytest.mark.parametrize("item, match", [("steps=many", "steps"), ("guidance=text", "guidance"),
                                         ("patch_size=30", "multiple of 8"), ("tasks=[snow]", "tasks"),
                                         ("amp=1", "amp")])
def test_bad_values_are_rejected(item, match):
    with pytest.raises(TrainConfigError, match=match):
        parse_args([item])


def test_config_file_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\nlr: 1\nbetas: [0.8, 0.9]\nmodel_overrides: {dim: 16}\n")
    c = parse_args(["--config", str(cfg), "model_overrides.heads=[1,1,1,1]", "batch_size=3"])
    assert (c.lr, c.betas, c.batch_size) == (1.0, (0.8, 0.9), 3)
    assert c.model_overrides == {"dim": 16, "heads": [1, 1, 1, 1]}
    with pytest.raises(FileNotFoundError):
        parse_args(["--config", str(tmp_path / "absent.yaml")])


def test_warmup_then_cosine():
    c = TrainConfig(steps=110, warmup_steps=10, lr=1e-3, min_lr=1e-5)
    assert learning_rate(c, 0) == pytest.approx(1e-4)
    assert learning_rate(c, 9) == pytest.approx(1e-3)
    assert learning_rate(c, 60) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(c, 110) == pytest.approx(1e-5)
    assert all(learning_rate(c, s) >= learning_rate(c, s + 1) for s in range(10, 110))


class StubEncoder:
    """Stands in for the frozen encoder: a fixed projection of colour statistics; records its inputs."""

    def __init__(self):
        self.seen = []
        self.projection = torch.randn(6, 512, generator=torch.Generator().manual_seed(0))

    def encode_image(self, images):
        self.seen.append(tuple(images.shape))
        stats = torch.cat([images.mean((-2, -1)), images.std((-2, -1))], 1)
        return 3.0 * stats @ self.projection


def test_one_step_with_guidance_writes_everything(tmp_path, photos, monkeypatch, capsys):
    stub = StubEncoder()
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (stub, {"file": "stub", "sha256": "0"}))
    assert train_restorer.main(args(tmp_path, photos, "one", "steps=1", "val_every=1", "ema_decay=0.5")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 1 and summary["guidance"] == "encoder" and math.isfinite(summary["val_psnr"])
    assert (2, 3, 32, 32) in stub.seen                                       # d_I of the training batch
    run = tmp_path / "runs" / "one"
    folder = run / json.loads((run / "latest.json").read_text())["checkpoint"]
    net = core.load_model(folder / "model.safetensors")                      # loadable by the library
    assert net.config.dim == 8
    assert core.checkpoint.checkpoint_info(folder / "ema.safetensors")["steps"] == 1
    torch.manual_seed(0)
    fresh = core.create_model("vlunet-tiny", dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1)
    assert any(not torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), net.state_dict().values()))
    log = (run / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) == 2
    assert (run / "curves.html").stat().st_size > 10_000


def test_resume_refuses_other_encoder_adapters(tmp_path, photos, monkeypatch, capsys):
    run = args(tmp_path, photos, "enc", "steps=1", "val_every=5")
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (StubEncoder(), {"file": "a", "sha256": "aa"}))
    assert train_restorer.main(run) == 0
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (StubEncoder(), {"file": "b", "sha256": "bb"}))
    assert train_restorer.main([*run[:-2], "steps=2", "val_every=5"]) == 2
    assert "other encoder adapters" in capsys.readouterr().err


def test_guidance_vectors_are_unit_norm():
    d = loop_module.guidance_vectors(StubEncoder(), torch.rand(3, 3, 16, 16))
    assert d.shape == (3, 512) and torch.allclose(d.norm(dim=1), torch.ones(3))
    assert loop_module.guidance_vectors(None, torch.rand(1, 3, 8, 8)) is None


def _weights(run: Path, step: int) -> dict[str, dict[str, torch.Tensor]]:
    folder = run / "checkpoints" / f"step_{step:08d}"
    return {f: load_file(str(folder / f"{f}.safetensors")) for f in ("model", "ema")}


def test_sigkill_then_resume_is_bit_exact(tmp_path, photos):
    steps = 12
    common = ["guidance=uniform", f"steps={steps}", "checkpoint_steps=4", "val_every=6", "ema_decay=0.9"]
    assert train_restorer.main(args(tmp_path, photos, "whole", *common)) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "training.train_restorer", *args(tmp_path, photos, "cut", *common)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = tmp_path / "runs" / "cut" / "latest.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["step"] >= 4:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    assert proc.wait(30) == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = json.loads(pointer.read_text())["step"]
    assert 4 <= killed_at < steps
    assert train_restorer.main(args(tmp_path, photos, "cut", *common)) == 0      # resumes from killed_at
    whole, cut = _weights(tmp_path / "runs" / "whole", steps), _weights(tmp_path / "runs" / "cut", steps)
    for kind in ("model", "ema"):
        assert whole[kind].keys() == cut[kind].keys()
        assert all(torch.equal(whole[kind][k], cut[kind][k]) for k in whole[kind]), kind
    rows = (tmp_path / "runs" / "cut" / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, steps + 1))


@pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                    reason="torch.distributed with the gloo backend is not available in this build")
def test_two_process_ddp_matches_one_process_with_the_global_batch(tmp_path, photos):
    common = ["guidance=uniform", "steps=2", "val_every=2", "warmup_steps=0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "training.train_restorer", *args(tmp_path, photos, "ddp", *common)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert train_restorer.main(args(tmp_path, photos, "single", *common, "batch_size=4")) == 0
    ddp = load_file(str(tmp_path / "runs/ddp/checkpoints/step_00000002/model.safetensors"))
    single = load_file(str(tmp_path / "runs/single/checkpoints/step_00000002/model.safetensors"))
    state = json.loads((tmp_path / "runs/ddp/checkpoints/step_00000002/state.json").read_text())
    assert state["summary"]["batch_size"] == 4
    worst = max(float((ddp[k] - single[k]).abs().max()) for k in ddp)
    assert worst < 1e-5, worst
