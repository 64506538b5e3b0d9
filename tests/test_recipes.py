"""Recipes (training/configs/<model>.yaml): each resolves to the training calls the shipped weights
were made with, the registry names them, and one command makes every call in order."""
from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

import core
from core import pretrained
from training import train_restorer
from training.trainer import TrainConfigError, parse_args
from training.trainer.recipe import read_recipe, select

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training/configs"
# Every training call and export of the two shipped models, as the per-phase config files and
# command-line overrides they were trained with resolved them (recorded before those files left).
SHIPPED = json.loads((Path(__file__).parent / "data/shipped_phases.json").read_text())


def as_json(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("model", sorted(SHIPPED))
def test_recipe_resolves_to_the_recorded_calls(model):
    """Same calls in the same order, each with the same resolved TrainConfig, and the same exports."""
    recorded = SHIPPED[model]
    trained = [c["config"] for c in recorded if "config" in c]
    exports = [shlex.split(c["command"]) for c in recorded if "config" not in c]
    calls = read_recipe(CONFIGS / f"{model}.yaml")
    ours = calls[-len(trained):]              # vlunet-tiny-gpu starts from vlunet-tiny's phase 4
    assert [as_json(call.config.to_dict()) for call in ours] == trained
    assert [(str(c.config.run_dir), c.export) for c in ours if c.export][:len(exports)] == [
        (argv[argv.index("--run") + 1], argv[argv.index("--out") + 1]) for argv in exports]
    assert ours[-1].export == f"runs/{model}.safetensors"


def test_the_gpu_model_starts_from_the_default_models_phase_4():
    gpu, tiny = read_recipe(CONFIGS / "vlunet-tiny-gpu.yaml"), read_recipe(CONFIGS / "vlunet-tiny.yaml")
    assert [c.config for c in gpu[:4]] == [c.config for c in tiny[:4]]
    assert gpu[4].config.init_from == f"{tiny[3].config.run_dir}/checkpoints/step_00002200/ema.safetensors"


@pytest.mark.parametrize("name", pretrained.list_pretrained())
def test_registry_names_file_checksum_card_and_recipe(name):
    """The shipped weights are byte for byte those recorded (sha256); their card and recipe exist."""
    entry = pretrained.PRETRAINED[name]
    assert hashlib.sha256((pretrained.ASSETS / entry.file).read_bytes()).hexdigest() == entry.sha256
    assert (pretrained.ASSETS / entry.card).is_file()
    assert (ROOT / pretrained.recipe_file(name)).is_file()


def test_missing_weights_name_the_recipe_command_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "ASSETS", tmp_path)
    with pytest.raises(core.WeightsNotFoundError) as err:
        pretrained.resolve_weights("vlunet-tiny-gpu")
    message = str(err.value)
    assert "\n" not in message and "--recipe training/configs/vlunet-tiny-gpu.yaml" in message


@pytest.mark.parametrize("config", sorted(p.name for p in (CONFIGS / "base").glob("*.yaml")))
def test_base_configs_parse(config):
    assert parse_args(["--config", str(CONFIGS / "base" / config), "name=x"]).steps > 0


@pytest.mark.parametrize("text, match", [
    ("phases: []\n", "non-empty list"),
    ("phase: []\n", "unknown recipe key in .* 'phase' .did you mean 'phases'"),
    ("phases:\n  - {name: a, steps: 2}\n", "first phase names its 'base'"),
    ("phases:\n  - {base: b.yaml, name: a}\n", "sets its 'name' and 'steps'"),
    ("phases:\n  - {base: b.yaml, name: a, steps: 2, lr: fast}\n", r"phase 1 \(a\): config key 'lr' expects float"),
    ("phases:\n  - {base: b.yaml, name: a, steps: 2, batchsize: 2}\n", "did you mean 'batch_size'"),
    ("phases:\n  - {base: b.yaml, name: a, steps: 2}\n  - {name: b, steps: 2}\n  - {name: a, steps: 4}\n",
     "run 'a' was trained by an earlier phase"),
    ("starts_from: {recipe: b.yaml}\nphases:\n  - {base: b.yaml, name: a, steps: 2}\n", "'starts_from' must be"),
    ("phases:\n  - {base: b.yaml, name: a, steps: 2, pilot: maybe}\n", r"phase 1 \(a\): pilot must be true or false"),
])
def test_bad_recipes_are_one_line_errors(tmp_path, text, match):
    (tmp_path / "b.yaml").write_text("model: vlunet-tiny\n")
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(TrainConfigError, match=match) as err:
        read_recipe(tmp_path / "r.yaml")
    assert "\n" not in str(err.value)


def test_name_override_is_refused_and_others_apply_to_every_call(tmp_path):
    (tmp_path / "b.yaml").write_text("model: vlunet-tiny\n")
    (tmp_path / "r.yaml").write_text("phases:\n  - {base: b.yaml, name: a, steps: 2}\n  - {name: c, steps: 3}\n")
    with pytest.raises(TrainConfigError, match="no name= override"):
        read_recipe(tmp_path / "r.yaml", ["name=x"])
    assert [c.config.threads for c in read_recipe(tmp_path / "r.yaml", ["threads=2"])] == [2, 2]


def test_pilot_phases_run_only_when_named_and_do_not_pass_their_keys_on(tmp_path):
    (tmp_path / "b.yaml").write_text("model: vlunet-tiny\n")
    (tmp_path / "r.yaml").write_text("phases:\n  - {base: b.yaml, name: a, steps: 2}\n"
                                     "  - {name: p, steps: 3, lr: 1.0e-3, pilot: true}\n  - {name: c, steps: 4}\n")
    calls = read_recipe(tmp_path / "r.yaml")
    assert [(c.name, c.pilot) for c in calls] == [("a", False), ("p", True), ("c", False)]
    assert calls[2].config.lr == 1.0e-3                   # keys carry on from the phase before, as ever
    assert [c.name for c in select(calls, None)] == ["a", "c"]
    assert [c.name for c in select(calls, "p")] == ["p"]


def test_one_command_makes_every_call_and_export_and_resumes(tmp_path, photos, capsys):
    """A tiny recipe: a run lengthened by a second call, exported, then continued by a second run."""
    tiny = ("model_overrides: {dim: 8, num_blocks: [1, 1, 1, 1], num_refinement_blocks: 1}\n"
            f"guidance: uniform\nphotos: {photos}\npatch_size: 32\nbatch_size: 2\nval_crop: 32\nthreads: 1\n"
            f"progress: false\nwarmup_steps: 2\ncheckpoint_minutes: 0\ncurves_html: false\nout_dir: {tmp_path / 'runs'}\n")
    (tmp_path / "base.yaml").write_text(tiny)
    first = tmp_path / "runs/first-3.safetensors"
    (tmp_path / "r.yaml").write_text(
        "phases:\n  - {base: base.yaml, name: first, steps: 2}\n"
        f"  - {{name: first, steps: 3, export: {first}}}\n"
        f"  - {{name: second, steps: 2, init_from: {first}, lr: 1.0e-4, export: {tmp_path / 'out.safetensors'}}}\n")
    argv = ["--recipe", str(tmp_path / "r.yaml")]
    assert train_restorer.main(argv) == 0
    summaries = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [s["steps"] for s in summaries] == [2, 3, 2]
    assert core.checkpoint.checkpoint_info(first)["steps"] == 3
    assert core.checkpoint.checkpoint_info(tmp_path / "out.safetensors")["train_config"]["init_from"] == str(first)
    assert train_restorer.main(argv) == 0                 # again: every run is complete, nothing retrained
    assert [json.loads(line)["steps"] for line in capsys.readouterr().out.splitlines() if line.startswith("{")] == [3, 3, 2]
    assert train_restorer.main([*argv, "--phase", "second", "--show"]) == 0
    assert "name: second\n" in capsys.readouterr().out
    assert train_restorer.main([*argv, "--phase", "third"]) == 2
    assert "no phase 'third'" in capsys.readouterr().err
