"""Faults of a training run: SIGKILL at random moments, a save cut short, corrupt checkpoints
(truncated, missing, flipped bits), unreadable photos and bad command lines. Each ends in a
bit-exact resume or one clear line."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import flip_tensor_bit, strip_digest
from training import train_encoder, train_restorer
from training.trainer import state as state_module

ROOT = Path(__file__).resolve().parent.parent
KILLED = -signal.SIGKILL

pytestmark = pytest.mark.usefixtures("one_thread")

# 14 steps, a checkpoint every 2: the kills land between checkpoints as often as not.
SCHEDULED = ["guidance=uniform", "steps=14", "checkpoint_steps=2", "val_every=6", "ema_decay=0.9"]
# A constant learning rate, so that a run extended from 4 to 6 steps is the same as a 6-step run.
CONSTANT = ["guidance=uniform", "checkpoint_steps=2", "val_every=100", "warmup_steps=0", "lr=1e-3", "min_lr=1e-3",
            "ema_decay=0.9"]

@pytest.fixture
def args(tmp_path, photos, train_args):
    """``args(name, *overrides)``: a tiny run on the ``photos`` folder, under ``tmp_path/runs``."""
    return lambda name, *extra: train_args(tmp_path, photos, name, *extra)


def weights(run: Path, step: int) -> dict[str, dict[str, torch.Tensor]]:
    folder = run / "checkpoints" / f"step_{step:08d}"
    return {kind: load_file(str(folder / f"{kind}.safetensors")) for kind in ("model", "ema")}


def assert_same_weights(a: dict, b: dict) -> None:
    for kind in ("model", "ema"):
        assert a[kind].keys() == b[kind].keys(), kind
        assert all(torch.equal(a[kind][k], b[kind][k]) for k in a[kind]), kind


def logged_steps(log: Path) -> list[int]:
    """Steps of the complete rows of a log.csv that may be being written."""
    if not log.is_file():
        return []
    rows = log.read_text().splitlines()[1:]
    return [int(r.split(",", 1)[0]) for r in rows if r.count(",") >= 10]


def _train_in_child(argv: list[str], die_in_second_save: bool) -> None:
    """Body of a forked training process (see :func:`start_training`)."""
    if die_in_second_save:
        real, calls = state_module.save_file, []

        def save_then_die(tensors, path, **kwargs):
            real(tensors, path, **kwargs)
            calls.append(path)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        state_module.save_file = save_then_die
    os._exit(train_restorer.main(argv))


def start_training(argv: list[str], die_in_second_save: bool = False) -> multiprocessing.Process:
    """A real training process running ``train_restorer.main(argv)``, forked from this one so that it
    starts without importing torch again. ``die_in_second_save``: it SIGKILLs itself once the optimiser
    file of its second checkpoint is written, leaving that checkpoint's temporary folder half-written,
    as a kill or power cut during a save does."""
    proc = multiprocessing.get_context("fork").Process(target=_train_in_child, args=(argv, die_in_second_save))
    proc.start()
    return proc


def kill_after_step(proc: multiprocessing.Process, log: Path, step: int, timeout: float = 120) -> int:
    """SIGKILL ``proc`` once ``log`` has a row for ``step``; returns the last logged step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.is_alive():
        if any(s >= step for s in logged_steps(log)):
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    else:
        proc.kill()
    proc.join(30)
    assert proc.exitcode == KILLED, f"the run ended (or hung) before step {step} could be reached and killed"
    return max(logged_steps(log))


def latest_step(run: Path) -> int:
    return json.loads((run / "latest.json").read_text())["step"]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ SIGKILL and interrupted saves

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, make_photos, train_args):
    """(photos, the final weights of an uninterrupted ``SCHEDULED`` run on them) -- built once."""
    root = tmp_path_factory.mktemp("uninterrupted")
    photos = make_photos(root / "photos")
    assert train_restorer.main(train_args(root, photos, "whole", *SCHEDULED)) == 0
    return photos, weights(root / "runs" / "whole", 14)


def test_three_sigkills_at_random_steps_then_resume_is_bit_exact(tmp_path, uninterrupted, train_args):
    photos, whole = uninterrupted
    argv, run, steps = train_args(tmp_path, photos, "cut", *SCHEDULED), tmp_path / "runs" / "cut", 14
    rng = np.random.default_rng(2024)
    seen, resumed_from = 0, []
    for _ in range(3):
        resumed_from.append(latest_step(run) if (run / "latest.json").is_file() else 0)
        seen = kill_after_step(start_training(argv), run / "log.csv", seen + int(rng.integers(2, 4)))
        assert seen < steps
    assert resumed_from[0] == 0 and resumed_from == sorted(resumed_from) and latest_step(run) < steps
    assert train_restorer.main(argv) == 0
    assert_same_weights(whole, weights(run, steps))
    assert logged_steps(run / "log.csv") == list(range(1, steps + 1))


def test_kill_during_a_save_leaves_the_previous_checkpoint_to_resume_from(tmp_path, uninterrupted, train_args):
    photos, whole = uninterrupted
    argv, run = train_args(tmp_path, photos, "cut", *SCHEDULED), tmp_path / "runs" / "cut"
    proc = start_training(argv, die_in_second_save=True)
    proc.join(120)
    assert proc.exitcode == KILLED
    assert latest_step(run) == 2
    half = list((run / "checkpoints").glob(".step_00000004.*"))
    assert len(half) == 1 and (half[0] / "optimizer.safetensors").is_file() and not (half[0] / "state.json").exists()
    assert not (run / "checkpoints" / "step_00000004").exists()
    assert train_restorer.main(argv) == 0                                   # resumes from step 2
    assert_same_weights(whole, weights(run, 14))
    assert not list((run / "checkpoints").glob(".step_*"))                  # the next save removed it


def test_stop_after_takes_a_run_a_session_at_a_time_bit_exact(tmp_path, uninterrupted, train_args):
    photos, whole = uninterrupted
    run = tmp_path / "runs" / "split"
    session = lambda *extra: train_restorer.main(train_args(tmp_path, photos, "split", *SCHEDULED, *extra))  # noqa: E731
    assert session("stop_after=5") == 0
    assert latest_step(run) == 5 and max(logged_steps(run / "log.csv")) == 5     # stopped, saved at 5
    assert session("stop_after=5") == 0 and max(logged_steps(run / "log.csv")) == 5   # nothing left to do
    assert session("stop_after=9") == 0 and latest_step(run) == 9
    assert session() == 0                                                     # on to `steps`
    assert_same_weights(whole, weights(run, 14))


# ------------------------------------------------------------------ corrupt checkpoints

@pytest.fixture(scope="module")
def four_steps(tmp_path_factory, make_photos, train_args):
    """(photos, a 4-step run with checkpoints at steps 2 and 4, its 6-step weights) -- built once."""
    root = tmp_path_factory.mktemp("corrupt")
    photos = make_photos(root / "photos")
    assert train_restorer.main(train_args(root, photos, "base", *CONSTANT, "steps=4")) == 0
    assert train_restorer.main(train_args(root, photos, "straight", *CONSTANT, "steps=6")) == 0
    return photos, root / "runs" / "base", weights(root / "runs" / "straight", 6)


def _truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


CORRUPTIONS = {   # name: (what to do to the run, the file the error names, the checkpoint it proposes)
    "truncated model": (lambda run: _truncate(run / "checkpoints/step_00000004/model.safetensors"),
                        "checkpoints/step_00000004/model.safetensors", "step_00000002"),
    "truncated ema": (lambda run: _truncate(run / "checkpoints/step_00000004/ema.safetensors", 0.02),
                      "checkpoints/step_00000004/ema.safetensors", "step_00000002"),
    "garbage state.json": (lambda run: (run / "checkpoints/step_00000004/state.json").write_text("{garbage"),
                           "checkpoints/step_00000004/state.json", "step_00000002"),
    "missing optimizer": (lambda run: (run / "checkpoints/step_00000004/optimizer.safetensors").unlink(),
                          "checkpoints/step_00000004/optimizer.safetensors", "step_00000002"),
    "missing folder": (lambda run: shutil.rmtree(run / "checkpoints/step_00000004"),
                       "checkpoints/step_00000004", "step_00000002"),
    "garbage latest.json": (lambda run: (run / "latest.json").write_text("\x00\x01"), "latest.json", "step_00000004"),
    "flipped bit in model": (lambda run: flip_tensor_bit(run / "checkpoints/step_00000004/model.safetensors"),
                             "checkpoints/step_00000004/model.safetensors", "step_00000002"),
    "flipped bit in optimizer": (lambda run: flip_tensor_bit(run / "checkpoints/step_00000004/optimizer.safetensors"),
                                 "checkpoints/step_00000004/optimizer.safetensors", "step_00000002"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_checkpoint_is_one_line_naming_it_and_resume_from_the_intact_one(tmp_path, four_steps, train_args,
                                                                                 corruption, capsys):
    photos, base, straight = four_steps
    shutil.copytree(base, tmp_path / "runs" / "base")
    run = tmp_path / "runs" / "base"
    damage, bad_file, intact = CORRUPTIONS[corruption]
    damage(run)
    before = snapshot(run)
    argv = train_args(tmp_path, photos, "base", *CONSTANT, "steps=6")
    assert train_restorer.main(argv) == 2
    err = capsys.readouterr().err.strip()
    proposed = run / "checkpoints" / intact
    assert "\n" not in err and err.startswith("error: ") and str(run / bad_file) in err
    assert f"resume_from={proposed}" in err
    assert snapshot(run) == before                                           # nothing changed on disk
    assert train_restorer.main([*argv, f"resume_from={proposed}"]) == 0
    assert latest_step(run) == 6
    assert_same_weights(straight, weights(run, 6))


def test_flipped_bit_error_says_the_checksum_does_not_match(tmp_path, four_steps, train_args, capsys):
    photos, base, _ = four_steps
    shutil.copytree(base, tmp_path / "runs" / "base")
    damaged = tmp_path / "runs/base/checkpoints/step_00000004/ema.safetensors"
    flip_tensor_bit(damaged)
    assert train_restorer.main(train_args(tmp_path, photos, "base", *CONSTANT, "steps=6")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"error: {damaged}: its tensors do not match the sha256 checksum")
    assert f"resume_from={tmp_path / 'runs/base/checkpoints/step_00000002'}" in err


def test_checkpoint_without_checksums_resumes_as_before(tmp_path, four_steps, train_args):
    photos, base, straight = four_steps
    shutil.copytree(base, tmp_path / "runs" / "base")
    run = tmp_path / "runs" / "base"
    for kind in ("model", "ema", "optimizer"):
        strip_digest(run / f"checkpoints/step_00000004/{kind}.safetensors")
    assert train_restorer.main(train_args(tmp_path, photos, "base", *CONSTANT, "steps=6")) == 0
    assert latest_step(run) == 6
    assert_same_weights(straight, weights(run, 6))


def test_no_intact_checkpoint_says_how_to_start_over(tmp_path, four_steps, train_args, capsys):
    photos, base, _ = four_steps
    shutil.copytree(base, tmp_path / "runs" / "base")
    for folder in (tmp_path / "runs" / "base" / "checkpoints").glob("step_*"):
        (folder / "state.json").write_text("[]")
    argv = train_args(tmp_path, photos, "base", *CONSTANT, "steps=6")
    assert train_restorer.main(argv) == 2
    assert train_restorer.main([*argv, "resume_from=checkpoints/absent"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "step_00000004/state.json is unreadable" in lines[0] and "resume=false" in lines[0]
    assert "resume_from: checkpoints/absent is not a checkpoint folder" in lines[1]


# ------------------------------------------------------------------ unreadable photos

def test_unreadable_photos_are_skipped_and_counted_with_workers(tmp_path, args, photos, capsys):
    good = (photos / "train" / "p0.png").read_bytes()
    (photos / "train" / "cut.png").write_bytes(good[: len(good) // 2])      # truncated
    (photos / "train" / "noise.jpg").write_bytes(os.urandom(500))           # not an image
    (photos / "val" / "zero.png").write_bytes(b"")
    with pytest.warns(UserWarning) as caught:
        assert train_restorer.main(args("skip", "guidance=uniform", "steps=2", "val_every=2", "num_workers=2")) == 0
    messages = [str(w.message) for w in caught]
    assert any("skipped 2 unreadable train photo(s) of 5" in m and "cut.png" in m and "noise.jpg" in m for m in messages)
    assert any("zero.png" in m for m in messages)                          # left out of validation
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["skipped_images"] == 2 and summary["steps"] == 2
    state = json.loads((tmp_path / "runs/skip/checkpoints/step_00000002/state.json").read_text())
    assert state["summary"]["skipped_images"] == 2


def test_no_readable_train_photo_is_one_line(tmp_path, args, photos, capsys):
    for path in (photos / "train").iterdir():
        path.write_bytes(b"broken")
    assert train_restorer.main(args("none", "guidance=uniform", "steps=1")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"error: no readable train photos in {photos / 'train'}")


# ------------------------------------------------------------------ bad command lines

BAD_CONFIGS = [   # (command, config file text or None, extra arguments, what the line must name)
    ("restorer", "name: x\nsteps: 3\n", ["badkey=1"], "'badkey'"),
    ("restorer", "name: x\nbatchsize: 4\n", [], "did you mean 'batch_size'"),
    ("restorer", "name: x\nsteps: many\n", [], "config key 'steps' expects int, got 'many'"),
    ("restorer", "name: x\n", ["lr=fast"], "config key 'lr' expects float"),
    ("restorer", "name: x\nsteps: [1\n", [], "YAML syntax error at line 3"),
    ("restorer", "- a\n- b\n", [], "must hold a mapping"),
    ("restorer", None, ["--config", "absent.yaml"], "config file absent.yaml does not exist"),
    ("restorer", "name: x\n", ["steps"], "override 'steps' is not of the form key=value"),
    ("restorer", "name: x\n", ["--confg", "y"], "unrecognized arguments: --confg"),
    ("restorer", "name: x\n", ["guidance=uniform", "model_overrides.dimm=8"], "['dimm']"),
    ("encoder", "epochs: 2\n", ["epochz=3"], "unknown config key 'epochz'"),
    ("encoder", "epochz: 2\n", [], "unknown config key 'epochz'"),
    ("encoder", "epochs: many\n", [], "config key 'epochs' expects int, got 'many'"),
    ("encoder", "crop_sizes: [a]\n", [], "config key 'crop_sizes' expects tuple[int, ...]"),
    ("encoder", "epochs: [2\n", [], "YAML syntax error at line 2"),
    ("encoder", None, ["--config", "absent.yaml"], "config file absent.yaml does not exist"),
    ("encoder", "epochs: 2\n", ["loss=mse"], "loss must be 'info_nce'"),
]
COMMANDS = {"restorer": (train_restorer.main, 2), "encoder": (train_encoder.main, 1)}


@pytest.mark.parametrize("command, text, extra, named", BAD_CONFIGS)
def test_bad_config_is_one_line_naming_the_key(tmp_path, command, text, extra, named, capsys):
    config = tmp_path / "c.yaml"
    if text is not None:
        config.write_text(text)
    main, status = COMMANDS[command]
    assert main((["--config", str(config)] if text is not None else []) + extra) == status
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: ") and named in err


def test_command_line_prints_no_traceback(tmp_path):
    config = tmp_path / "x.yaml"
    config.write_text("seed: 1\n")
    done = subprocess.run([sys.executable, "-m", "training.train_restorer", "--config", str(config), "badkey=1"],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: unknown training config key 'badkey'")
