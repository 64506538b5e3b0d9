"""Training configuration: unknown keys, bad values, config files and ``base:`` chains, the
shipped configs, per-task shares (``task_repeat``) and synthesis ranges (``synthesis``).

The runs themselves: test_trainer.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.degradations import CANONICAL, SamplerConfig
from training import train_restorer
from training.trainer import TrainConfigError, parse_args
from training.trainer.data import patch_dataset


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
                                         ("amp=1", "amp"), ("stop_after=-1", "stop_after"),
                                         ("loss_balance=-0.5", "loss_balance"), ("ssim_weight=-1", "ssim_weight must be in"),
                                         ("compile=fast", "compile must be one of"),
                                         ("pixel_loss=l2", "pixel_loss must be one of")])
def test_bad_values_are_rejected(item, match):
    with pytest.raises(TrainConfigError, match=match):
        parse_args([item])


def test_psnr_loss_refuses_the_l1_balance():
    assert parse_args(["pixel_loss=psnr"]).pixel_loss == "psnr"
    with pytest.raises(TrainConfigError, match="pixel_loss=psnr needs loss_balance=0"):
        parse_args(["pixel_loss=psnr", "loss_balance=1"])


def test_config_file_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\nlr: 1\nbetas: [0.8, 0.9]\nmodel_overrides: {dim: 16}\n")
    c = parse_args(["--config", str(cfg), "model_overrides.heads=[1,1,1,1]", "batch_size=3"])
    assert (c.lr, c.betas, c.batch_size) == (1.0, (0.8, 0.9), 3)
    assert c.model_overrides == {"dim": 16, "heads": [1, 1, 1, 1]}
    with pytest.raises(FileNotFoundError):
        parse_args(["--config", str(tmp_path / "absent.yaml")])


def test_config_base_chain_each_file_over_its_base(tmp_path):
    """``base:`` chains resolve nearest-file-first; a key replaces the base's whole value (a
    ``task_repeat`` is not merged) and command-line overrides come last."""
    (tmp_path / "phases").mkdir()
    (tmp_path / "a.yaml").write_text("name: a\nlr: 1\nseed: 3\ntask_repeat: {rain: 2, haze: 5}\n")
    (tmp_path / "phases" / "b.yaml").write_text("base: ../a.yaml\nname: b\nlr: 2\n")
    (tmp_path / "phases" / "c.yaml").write_text("base: b.yaml\nname: c\ntask_repeat: {rain: 7}\n")
    c = parse_args(["--config", str(tmp_path / "phases" / "c.yaml"), "seed=9"])
    assert (c.name, c.lr, c.seed, c.task_repeat) == ("c", 2.0, 9, {"rain": 7})
    assert parse_args(["--config", str(tmp_path / "phases" / "b.yaml")]).task_repeat == {"rain": 2, "haze": 5}
    (tmp_path / "phases" / "d.yaml").write_text("base: c.yaml\nlr: 3\n")      # no name of its own:
    assert parse_args(["--config", str(tmp_path / "phases" / "d.yaml"), "name=d"]).name == "d"   # an override gives it


@pytest.mark.parametrize("files, match", [
    ({"c.yaml": "base: d.yaml\n", "d.yaml": "base: c.yaml\n"}, r"cycle \(c.yaml -> d.yaml -> c.yaml\)"),
    ({"c.yaml": "base: missing.yaml\nname: c\n"}, "base file .*missing.yaml does not exist"),
    ({"c.yaml": "base: [a.yaml]\n"}, "'base' must be the path of another config file"),
    ({"c.yaml": "base: d.yaml\n", "d.yaml": "- not a mapping\n"}, "d.yaml must hold a mapping"),
    ({"c.yaml": "base: d.yaml\nlr: 1\n", "d.yaml": "name: d\n"}, r"c.yaml must set its own 'name'.*\('d'\)")])
def test_bad_config_base_is_one_line_error(tmp_path, files, match):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(TrainConfigError, match=match) as err:
        parse_args(["--config", str(tmp_path / "c.yaml")])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("config", sorted(p.name for p in (Path(__file__).parents[1] / "training/configs").glob("*.yaml")
                                          if not p.name.startswith("encoder_") and "phases:" not in p.read_text()))
def test_every_shipped_restorer_config_parses(config):
    """The configs beside the recipes (training.compare's) stay runnable: each is a valid TrainConfig."""
    c = parse_args(["--config", str(Path(__file__).parents[1] / "training/configs" / config)])
    assert c.name == Path(config).stem and c.steps > 0 and c.batch_size > 0

@pytest.mark.parametrize("mapping, match", [("{snow: 2}", "task_repeat names 'snow'"),
                                            ("{haze: 2}", "task_repeat names 'haze', which is not in tasks"),
                                            ("{rain: 0}", "integer >= 1"), ("{rain: true}", "integer >= 1"),
                                            ("{rain: 1.5}", "integer >= 1")])
def test_task_repeat_names_configured_tasks_with_positive_counts(mapping, match):
    with pytest.raises(TrainConfigError, match=match):
        parse_args(["tasks=[rain, noise_25]", f"task_repeat={mapping}"])


def test_task_repeat_sets_each_task_share_of_the_epoch(photos):
    cfg = parse_args(["tasks=[rain, haze, noise_25]", "repeat=2", "task_repeat={rain: 3, haze: 1}"])
    assert [cfg.repeat_of(t) for t in cfg.tasks] == [3, 1, 2]
    dataset = patch_dataset(photos, cfg.tasks, 32, 0, {t: cfg.repeat_of(t) for t in cfg.tasks})
    assert len(dataset) == 3 * (3 + 1 + 2)                               # 3 train photos
    labels = [dataset[i][2] for i in range(len(dataset))]
    assert {task: labels.count(CANONICAL.index(task)) for task in cfg.tasks} == {"rain": 9, "haze": 3, "noise_25": 6}


@pytest.mark.parametrize("mapping, match", [
    ("{snow: {}}", "unknown synthesis family 'snow'"),
    ("{blur: {motion: 0.5}}", "unknown synthesis.'blur'. field 'motion'"),
    ("{blur: {motion_probability: 1.5}}", r"must be in \[0, 1\], got 1.5"),
    ("{blur: {length: [25, 5]}}", "low <= high"),
    ("{blur: {sigma: fuzzy}}", "expects tuple"),
    ("{blur: 0.5}", "must map fields to values")])
def test_bad_synthesis_is_one_line_error(mapping, match):
    with pytest.raises(TrainConfigError, match=match) as err:
        parse_args(["tasks=[blur]", f"synthesis={mapping}"])
    assert "\n" not in str(err.value)


def test_synthesis_changes_the_training_degradations_only_where_named(photos):
    """``synthesis={blur: {motion_probability: 0}}`` trains on Gaussian blurs alone; the other
    ranges, and the default (empty) mapping, are the held-out suite's."""
    cfg = parse_args(["tasks=[blur]", "synthesis={blur: {motion_probability: 0.0, sigma: [1, 2]}}"])
    config = cfg.sampler_config
    assert (config.blur.motion_probability, config.blur.sigma, config.blur.length) == (0.0, (1.0, 2.0), (5.0, 25.0))
    assert config.haze == SamplerConfig().haze and parse_args([]).sampler_config == SamplerConfig()

    def kinds(synthesis):
        dataset = patch_dataset(photos, ["blur"], 32, 0, 8, synthesis=synthesis)
        return [json.loads(dataset[i][3])["params"] for i in range(len(dataset))]
    gaussian = kinds(config)
    assert all(p["kind"] == 0 and 1.0 <= p["sigma"] <= 2.0 for p in gaussian)
    assert any(p["kind"] == 1 for p in kinds(SamplerConfig()))      # 3/4 motion by default
