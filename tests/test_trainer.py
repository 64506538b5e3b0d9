"""The restoration trainer: one-step runs, init_from, retrieval pace, AMP, DDP (gloo), time budgets.

Faults (SIGKILL, corrupt checkpoints, unreadable photos, bad command lines): test_training_faults.py.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import core
from training import train_restorer
from training.trainer import TrainConfig, TrainConfigError, learning_rate, parse_args
from training import losses
from training.trainer import loop as loop_module

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def args(tmp_path, photos, train_args):
    """``args(name, *overrides)``: a tiny run on the ``photos`` folder, under ``tmp_path/runs``."""
    return lambda name, *extra: train_args(tmp_path, photos, name, *extra)


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


def test_one_step_with_guidance_writes_everything(tmp_path, args, monkeypatch, capsys):
    stub = StubEncoder()
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (stub, {"file": "stub", "sha256": "0"}))
    assert train_restorer.main(args("one", "steps=1", "val_every=1", "ema_decay=0.5")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 1 and summary["guidance"] == "encoder" and math.isfinite(summary["val_psnr"])
    assert summary["hardware"].startswith("CPU, ")                          # what trained it, in its record
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


def test_resume_refuses_other_encoder_adapters(args, monkeypatch, capsys):
    run = args("enc", "steps=1", "val_every=5")
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (StubEncoder(), {"file": "a", "sha256": "aa"}))
    assert train_restorer.main(run) == 0
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (StubEncoder(), {"file": "b", "sha256": "bb"}))
    assert train_restorer.main([*run[:-2], "steps=2", "val_every=5"]) == 2
    assert "other encoder adapters" in capsys.readouterr().err


def test_guidance_vectors_are_unit_norm():
    d = loop_module.guidance_vectors(StubEncoder(), torch.rand(3, 3, 16, 16))
    assert d.shape == (3, 512) and torch.allclose(d.norm(dim=1), torch.ones(3))
    assert loop_module.guidance_vectors(None, torch.rand(1, 3, 8, 8)) is None


def test_loss_balance_zero_is_plain_l1_and_positive_weighs_items_by_inverse_input_error():
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 8, 8)
    degraded = clean.clone()
    degraded[0] += 0.4     # far from clean (e = 0.4): low weight
    degraded[1] += 0.01    # near clean (e = 0.01): high weight
    restored = clean + torch.tensor([0.1, 0.1])[:, None, None, None]   # both off by 0.1
    plain = losses.restoration_loss(restored, clean, degraded, 0.0)
    assert plain == torch.nn.functional.l1_loss(restored, clean)
    # p = 1: weights 1/0.4 and 1/0.01, scaled to mean 1 -> the loss is still 0.1 (equal errors)
    assert torch.isclose(losses.restoration_loss(restored, clean, degraded, 1.0), torch.tensor(0.1))
    restored[1] = clean[1]   # only item 0 (low weight) is off: the balanced loss is far below plain L1
    w0 = (1 / 0.4) / ((1 / 0.4 + 1 / 0.01) / 2)
    assert torch.isclose(losses.restoration_loss(restored, clean, degraded, 1.0), torch.tensor(0.1 * w0 / 2), rtol=1e-3)
    assert torch.isclose(losses.restoration_loss(restored, clean, degraded, 0.0), torch.tensor(0.05))
    # an input equal to its target does not blow its weight up: errors are floored at 2/255
    same = losses.restoration_loss(clean + 0.1, clean, clean.clone(), 1.0)
    assert torch.isfinite(same) and torch.isclose(same, torch.tensor(0.1))


@pytest.mark.parametrize("key, value", [("loss_balance", "1"), ("ssim_weight", "0.5"), ("fft_weight", "1"),
                                        ("pixel_loss", "psnr")])
def test_loss_options_reach_the_training_step(tmp_path, args, key, value):
    common = ["guidance=uniform", "steps=1", "val_every=5", "warmup_steps=0", "grad_clip=0"]
    assert train_restorer.main(args("plain", *common)) == 0          # every loss option at its default
    assert train_restorer.main(args("changed", *common, f"{key}={value}")) == 0
    step = "checkpoints/step_00000001/model.safetensors"
    a, b = (load_file(str(tmp_path / "runs" / run / step)) for run in ("plain", "changed"))
    assert any(not torch.equal(a[k], b[k]) for k in a)     # same init and batch, other gradients


def test_psnr_loss_is_minus_the_mean_psnr_and_pulls_each_item_on_its_own_scale():
    from skimage.metrics import peak_signal_noise_ratio
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 16, 16)
    restored = (clean + torch.tensor([0.02, 0.2])[:, None, None, None] * torch.randn(2, 3, 16, 16)).requires_grad_()
    loss = losses.restoration_loss(restored, clean, restored.detach(), pixel="psnr")
    psnrs = [peak_signal_noise_ratio(c.numpy(), r.detach().numpy().astype("float32"), data_range=1)
             for c, r in zip(clean, restored)]
    assert loss.item() == pytest.approx(-sum(psnrs) / 2, abs=1e-3)
    loss.backward()
    # L1's pull on a pixel is the same for both items; here the item 10x closer is pulled 10x harder per unit error
    ratio = restored.grad[0].norm() / restored.grad[1].norm()
    assert ratio.item() == pytest.approx(10.0, rel=0.15)
    with pytest.raises(ValueError, match="balance"):
        losses.restoration_loss(restored, clean, clean, 1.0, pixel="psnr")
    with pytest.raises(ValueError, match="pixel must be one of"):
        losses.restoration_loss(restored, clean, clean, pixel="l2")


def test_ssim_weight_adds_one_minus_ssim_and_favours_structure_over_a_flat_error():
    torch.manual_seed(0)
    clean = torch.rand(1, 3, 32, 32)
    shifted = clean + 0.05                                    # structure kept, L1 0.05
    flat = clean.mean().expand_as(clean).clone()              # structure lost
    assert losses.restoration_loss(shifted, clean, shifted, 0.0, 0.0) == torch.nn.functional.l1_loss(shifted, clean)
    assert torch.isclose(losses.restoration_loss(clean, clean, shifted, 0.0, 1.0), torch.tensor(0.0), atol=1e-5)
    gap = lambda x: losses.restoration_loss(x, clean, x, 0.0, 1.0) - losses.restoration_loss(x, clean, x, 0.0, 0.0)
    assert 0 <= gap(shifted) < 0.05 < gap(flat) <= 1.5          # 1 - SSIM: small for a shift, large for a flat image


def test_fft_weight_adds_the_spectrum_l1_and_weighs_lost_detail_above_a_flat_offset():
    torch.manual_seed(0)
    clean = torch.rand(1, 3, 32, 32)
    offset = clean + 0.05                                     # error all at frequency 0
    soft = torch.nn.functional.avg_pool2d(clean, 3, stride=1, padding=1, count_include_pad=False)
    term = lambda x: losses.restoration_loss(x, clean, x, 0.0, 0.0, 1.0) - losses.restoration_loss(x, clean, x, 0.0)
    assert torch.isclose(term(clean), torch.tensor(0.0))
    # a constant offset c lives in the DC term alone: c x sqrt(H W) over the 2 H (W/2 + 1) numbers
    assert torch.isclose(term(offset), torch.tensor(0.05 * 32 / (2 * 32 * 17)), rtol=1e-4)
    l1 = lambda x: torch.nn.functional.l1_loss(x, clean)
    assert term(soft) / l1(soft) > 5 * term(offset) / l1(offset)   # blur's error is spread over frequencies
    with pytest.raises(TrainConfigError, match="fft_weight must be in"):
        TrainConfig(name="x", fft_weight=-1)


def _tiny_vlunet(seed: int, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return core.create_model("vlunet-tiny", **{"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 1, **overrides})


def test_init_from_loads_the_weights_into_network_and_ema_before_step_0(tmp_path, args):
    start = core.save_model(_tiny_vlunet(123), tmp_path / "start.safetensors")
    frozen = ["guidance=uniform", "steps=1", "val_every=5", "ema_decay=0.5", "lr=0", "min_lr=0"]
    assert train_restorer.main(args("fine", *frozen, f"init_from={start}")) == 0
    assert train_restorer.main(args("fresh", *frozen)) == 0
    wanted = load_file(str(start))
    for kind in ("model", "ema"):
        got = load_file(str(tmp_path / f"runs/fine/checkpoints/step_00000001/{kind}.safetensors"))
        fresh = load_file(str(tmp_path / f"runs/fresh/checkpoints/step_00000001/{kind}.safetensors"))
        assert got.keys() == wanted.keys() and all(torch.equal(got[k], wanted[k]) for k in wanted), kind
        assert any(not torch.equal(fresh[k], wanted[k]) for k in wanted), kind   # lr=0 alone keeps the random init


def test_init_from_refuses_another_network_in_one_line(tmp_path, args, capsys):
    other = core.save_model(_tiny_vlunet(0, dim=16), tmp_path / "dim16.safetensors")
    assert train_restorer.main(args("other", "guidance=uniform", "steps=1", f"init_from={other}")) == 2
    assert train_restorer.main(args("absent", "guidance=uniform", "steps=1", f"init_from={tmp_path / 'no.safetensors'}")) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: init_from: ") for line in lines)
    assert str(other) in lines[0] and "different network" in lines[0] and "does not exist" in lines[1]
    assert not (tmp_path / "runs" / "other" / "checkpoints").exists()


def test_retrieval_lr_scale_speeds_up_only_the_retrieval_layers(tmp_path, args, monkeypatch, capsys):
    monkeypatch.setattr(loop_module, "load_encoder", lambda cfg, device: (StubEncoder(), {"file": "stub", "sha256": "0"}))
    start = core.save_model(_tiny_vlunet(5), tmp_path / "start.safetensors")
    plain = ["steps=1", "val_every=5", "warmup_steps=0", "lr=1e-3", "min_lr=1e-3", "weight_decay=0",
             "grad_clip=0", f"init_from={start}"]
    assert train_restorer.main(args("scaled", *plain, "retrieval_lr_scale=10")) == 0
    assert train_restorer.main(args("plain", *plain)) == 0
    before = load_file(str(start))
    moved = {}
    for run in ("scaled", "plain"):
        after = load_file(str(tmp_path / f"runs/{run}/checkpoints/step_00000001/model.safetensors"))
        moved[run] = {k: after[k] - before[k] for k in before}
    retrieval = [k for k in before if ".keys.retrieval." in k]
    assert len(retrieval) == 16                                     # weight and bias of 8 stages
    # same data and gradients; Adam's step is proportional to lr: 10x for the retrieval layers only
    for k in before:
        factor = 10.0 if k in retrieval else 1.0
        torch.testing.assert_close(moved["scaled"][k], factor * moved["plain"][k], rtol=1e-3, atol=1e-7, msg=k)
    assert all(moved["plain"][k].abs().max() > 0 for k in retrieval)
    # its optimiser state has two parameter groups: resuming it without the scale is one line
    assert train_restorer.main(args("scaled", *plain[1:], "steps=2")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "optimiser state does not fit" in err


def test_compile_trains_through_torch_compile_and_saves_the_plain_network(tmp_path, args, monkeypatch):
    """``compile=<mode>`` routes every training forward through ``torch.compile(..., mode)``
    (stubbed here: a real compilation takes minutes on the CPU), and the run's weights are the
    same as an eager run's."""
    calls = []

    class Counted(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.forwards = inner, 0

        def forward(self, *a, **k):
            self.forwards += 1
            return self.inner(*a, **k)

    def fake_compile(module, mode=None):
        calls.append((type(module).__name__, mode, Counted(module)))
        return calls[-1][2]

    monkeypatch.setattr(torch, "compile", fake_compile)
    common = ["guidance=uniform", "steps=3", "val_every=5"]
    assert train_restorer.main(args("compiled", *common, "compile=reduce-overhead")) == 0
    assert [(name, mode) for name, mode, _ in calls] == [("VLUNet", "reduce-overhead")] and calls[0][2].forwards == 3
    assert train_restorer.main(args("eager", *common)) == 0
    assert len(calls) == 1                                              # compile=none (the default) is eager
    step = "checkpoints/step_00000003/model.safetensors"
    a, b = (load_file(str(tmp_path / "runs" / run / step)) for run in ("compiled", "eager"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.filterwarnings("ignore:.*CUDA is not available")   # building a CUDA autocast on a CPU machine
def test_autocast_is_bfloat16_on_cuda_with_amp_and_on_the_cpu_only_with_amp_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for cfg, device, expected in [(TrainConfig(), cpu, None), (TrainConfig(amp_cpu=True), cpu, "cpu"),
                                  (TrainConfig(), cuda, "cuda"), (TrainConfig(amp=False), cuda, None),
                                  (TrainConfig(amp=False, amp_cpu=True), cuda, None)]:
        ctx = loop_module.autocast(cfg, device)
        if expected is None:
            assert not isinstance(ctx, torch.autocast)
        else:
            assert isinstance(ctx, torch.autocast) and ctx.device == expected and ctx.fast_dtype == torch.bfloat16


def test_amp_cpu_trains_the_forward_in_bfloat16(tmp_path, args, monkeypatch):
    """With ``amp_cpu`` the training forward runs under CPU bfloat16 autocast (its convolutions
    give bfloat16), the weights stay float32 and end near, not equal to, a float32 run's."""
    dtypes = []
    original = torch.nn.Conv2d.forward

    def recording(self, x):
        out = original(self, x)
        dtypes.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", recording)
    common = ["guidance=uniform", "steps=2", "val_every=5"]
    assert train_restorer.main(args("bf16", *common, "amp_cpu=true")) == 0
    assert torch.bfloat16 in dtypes
    dtypes.clear()
    assert train_restorer.main(args("fp32", *common)) == 0
    assert set(dtypes) == {torch.float32}
    step = "checkpoints/step_00000002/model.safetensors"
    a, b = (load_file(str(tmp_path / "runs" / run / step)) for run in ("bf16", "fp32"))
    assert all(v.dtype == torch.float32 for v in a.values())
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert 0 < diff < 1e-3      # two AdamW steps of lr <= 2e-4 move a weight by at most ~4e-4


def test_retrieval_lr_scale_needs_retrieval_layers(args, capsys):
    assert train_restorer.main(args("base", "model=promptir-tiny", "guidance=uniform", "steps=1",
                                    "retrieval_lr_scale=2")) == 2
    assert "no degradation key retrieval layers" in capsys.readouterr().err


@pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                    reason="torch.distributed with the gloo backend is not available in this build")
def test_two_process_ddp_matches_one_process_with_the_global_batch(tmp_path, args):
    common = ["guidance=uniform", "steps=2", "val_every=2", "warmup_steps=0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "training.train_restorer", *args("ddp", *common)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert train_restorer.main(args("single", *common, "batch_size=4")) == 0
    ddp = load_file(str(tmp_path / "runs/ddp/checkpoints/step_00000002/model.safetensors"))
    single = load_file(str(tmp_path / "runs/single/checkpoints/step_00000002/model.safetensors"))
    state = json.loads((tmp_path / "runs/ddp/checkpoints/step_00000002/state.json").read_text())
    assert state["summary"]["batch_size"] == 4
    worst = max(float((ddp[k] - single[k]).abs().max()) for k in ddp)
    assert worst < 1e-5, worst


def test_time_budget_fixes_the_steps_during_warmup_as_a_run_of_that_length(tmp_path, args, capsys):
    budget = args("budget", "steps=500", "warmup_steps=6", "time_budget_minutes=0.05", "val_every=1000",
                  "curves_html=false")
    assert train_restorer.main(budget) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    steps = summary["budget_steps"]
    assert 6 < steps < 500 and summary["steps"] == steps and f"-> steps={steps}" in out
    run = tmp_path / "runs" / "budget"
    folder = run / json.loads((run / "latest.json").read_text())["checkpoint"]
    assert json.loads((folder / "state.json").read_text())["config"]["steps"] == steps
    assert (run / "log.csv").is_file() and not (run / "curves.html").exists()
    # the same seed with steps=<that number> from the start ends with the same weights
    assert train_restorer.main(args("plain", f"steps={steps}", "warmup_steps=6", "val_every=1000")) == 0
    plain = tmp_path / "runs" / "plain"
    plain_folder = plain / json.loads((plain / "latest.json").read_text())["checkpoint"]
    a, b = load_file(folder / "model.safetensors"), load_file(plain_folder / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_time_budget_needs_a_warmup_to_measure_in():
    with pytest.raises(TrainConfigError, match="warmup_steps >= 4"):
        parse_args(["time_budget_minutes=1", "warmup_steps=2"])
    with pytest.raises(TrainConfigError, match="time_budget_minutes"):
        parse_args(["time_budget_minutes=-1"])
