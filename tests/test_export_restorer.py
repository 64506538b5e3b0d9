"""training.export_restorer: the latest or a named checkpoint, its recipe, one-line errors."""
from __future__ import annotations

import pytest
import torch

import core
from core.checkpoint import checkpoint_info
from training import train_restorer
from training.export_restorer import main as export_main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def stopped_run(tmp_path, photos, train_args):
    """A run planned for 6 steps, stopped after 3, with a checkpoint at every step."""
    argv = train_args(tmp_path, photos, "early", "guidance=uniform", "steps=6", "stop_after=3",
                      "checkpoint_steps=1", "keep_checkpoints=5", "ema_decay=0.9")
    assert train_restorer.main(argv) == 0
    return tmp_path / "runs" / "early"


def test_a_stopped_run_exports_with_the_recipe_that_stops_there(tmp_path, stopped_run, capsys):
    out = tmp_path / "latest.safetensors"
    assert export_main(["--run", str(stopped_run), "--out", str(out)]) == 0
    info = checkpoint_info(out)
    assert (info["steps"], info["planned_steps"], info["weights"]) == (3, 6, "ema")
    assert info["recipe"].endswith("--config training/configs/early.yaml stop_after=3")
    ema = core.load_model(stopped_run / "checkpoints" / "step_00000003" / "ema.safetensors")
    shipped = core.load_model(out)
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), shipped.state_dict().values()))


def test_a_named_checkpoint_exports_that_step(tmp_path, stopped_run):
    out = tmp_path / "step2.safetensors"
    assert export_main(["--checkpoint", str(stopped_run / "checkpoints" / "step_00000002"), "--out", str(out)]) == 0
    info = checkpoint_info(out)
    assert info["steps"] == 2 and info["recipe"].endswith("stop_after=2")
    assert info["exported_from"].endswith("step_00000002")


def test_missing_run_or_checkpoint_is_one_line(tmp_path, capsys):
    assert export_main(["--run", str(tmp_path / "absent"), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert export_main(["--checkpoint", str(tmp_path), "--out", str(tmp_path / "x.safetensors")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 2 and all(line.startswith("error:") for line in lines)
    assert "not a checkpoint folder" in lines[1]
    assert not (tmp_path / "x.safetensors").exists()


def test_an_exported_phase_names_its_recipe():
    from training.export_restorer import recipe_command
    assert recipe_command("vlunet-tiny-p13-blur") == \
        "python -m training.train_restorer --recipe training/configs/vlunet-tiny.yaml --phase vlunet-tiny-p13-blur"
    assert recipe_command("my-run") == "python -m training.train_restorer --config training/configs/my-run.yaml"
