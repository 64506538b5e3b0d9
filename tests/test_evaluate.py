"""training.evaluate: the deterministic photo suite, per-image rows, per-task tables, the command."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

import core
from core.degradations import CANONICAL
from training import evaluate as ev
from training.trainer.data import photo_suite

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def photos(tmp_path, make_photos) -> Path:
    return make_photos(tmp_path / "photos", train=1, val=2)


def test_photo_suite_is_deterministic_and_complete(photos):
    a = photo_suite(photos, crop=32, crops_per_photo=2, resize_short=64, seed=3)
    b = photo_suite(photos, crop=32, crops_per_photo=2, resize_short=64, seed=3)
    assert len(a) == 2 * 2 * len(CANONICAL)
    assert [(s.task, s.name) for s in a] == [(s.task, s.name) for s in b]
    assert all(torch.equal(x.degraded, y.degraded) and torch.equal(x.clean, y.clean) for x, y in zip(a, b))
    assert {s.degraded.shape for s in a} == {(1, 3, 32, 32)}
    assert not torch.equal(a[0].clean, a[len(CANONICAL)].clean)              # crop 1 is elsewhere
    c = photo_suite(photos, crop=32, crops_per_photo=2, resize_short=64, seed=4)
    assert not torch.equal(a[0].degraded, c[0].degraded)


def test_rows_and_table(photos):
    images = photo_suite(photos, crop=32, crops_per_photo=1, resize_short=64)
    identity = ev.evaluate(lambda im: im.degraded, images, detected=["noise_15"] * len(images))
    assert list(identity.columns) == ["task", "image", "input_psnr", "input_ssim", "psnr", "ssim", "detected", "seconds"]
    assert (identity["psnr"] == identity["input_psnr"]).all()
    perfect = ev.evaluate(lambda im: im.clean, images)
    assert (perfect["psnr"] == math.inf).all() and perfect["ssim"].tolist() == pytest.approx([1.0] * len(images))
    table = ev.summarize(identity)
    assert list(table["task"]) == [*CANONICAL, "average"]
    assert table.set_index("task").loc["noise_15", "detected"] == 1.0
    assert table.set_index("task").loc["rain", "detected"] == 0.0
    assert table["gain"].abs().max() == 0
    assert table.set_index("task").loc["average", "images"] == len(images)
    assert "| noise_15" in ev.markdown(table)


def test_clean_inputs_get_their_own_row_outside_the_average(photos):
    images = ev.load_suite("photos", photos, crop=32, crops_per_photo=2, clean=True)
    clean = [im for im in images if im.task == ev.CLEAN]
    assert len(clean) == 2 * 2 and len(images) == 2 * 2 * (len(CANONICAL) + 1)
    assert all(torch.equal(im.degraded, im.clean) for im in clean)
    darker = ev.evaluate(lambda im: im.degraded * 0.9, images, detected=["haze"] * len(images))
    table = ev.summarize(darker).set_index("task")
    assert list(table.index) == [*CANONICAL, "average", ev.CLEAN]
    assert table.loc["average", "images"] == 2 * 2 * len(CANONICAL)
    degradations = darker[darker["task"] != ev.CLEAN]
    assert table.loc["average", "psnr"] == pytest.approx(degradations.groupby("task")["psnr"].mean().mean())
    row = table.loc[ev.CLEAN]
    assert math.isfinite(row["psnr"]) and row["ssim"] < 1
    assert all(math.isnan(row[c]) for c in ("input_psnr", "input_ssim", "gain", "detected"))
    clean_line = next(l for l in ev.markdown(table.reset_index()).splitlines() if l.startswith("| clean"))
    assert "nan" not in clean_line and "inf" not in clean_line
    with pytest.raises(ValueError, match="photos suite"):
        ev.load_suite("5task", photos, data_root=photos, clean=True)


def test_photo_suite_takes_the_training_split_and_a_subset_of_the_tasks(photos):
    full = ev.load_suite("photos", photos, crop=32, crops_per_photo=1)
    some = ev.load_suite("photos", photos, crop=32, crops_per_photo=1, tasks=("blur", "noise_25"))
    assert len(some) == 2 * 2 and {im.task for im in some} == {"blur", "noise_25"}
    same = {(im.task, im.name): im for im in full}
    assert all(torch.equal(im.degraded, same[im.task, im.name].degraded) for im in some)   # the same seeds
    train = ev.load_suite("photos", photos, crop=32, crops_per_photo=1, split="train", tasks=("noise_15",))
    assert len(train) == 1 and not any(torch.equal(train[0].clean, im.clean) for im in full)
    with pytest.raises(ValueError, match="--tasks takes names among"):
        ev.load_suite("photos", photos, crop=32, tasks=("fog",))
    with pytest.raises(ValueError, match="photos suite"):
        ev.load_suite("5task", photos, data_root=photos, split="train")


class _Shift(torch.nn.Module):
    """A network that is not flip-equivariant: it adds a left-to-right ramp (and ignores d)."""

    multiple = 8

    def forward(self, x, d=None):
        return x + 0.1 * torch.linspace(0, 1, x.shape[-1])


@pytest.mark.parametrize("ensemble", ["flips", "dihedral"])
def test_self_ensemble_averages_the_transformed_back_restorations(ensemble):
    x = torch.rand(1, 3, 16, 16) * 0.5
    image = ev.SuiteImage("noise_15", "a", x, x)
    single = ev.network_method(_Shift())(image)
    assert torch.allclose(single, x + 0.1 * torch.linspace(0, 1, 16))
    both = ev.network_method(_Shift(), ensemble=ensemble)(image)
    # each copy's ramp, transformed back, runs one way or the other (rotated copies: up or down),
    # in pairs: the mean adds a flat 0.05
    assert torch.allclose(both, x + 0.05, atol=1e-6)


def test_command_writes_tables(tmp_path, photos, capsys):
    torch.manual_seed(0)
    net = core.create_model("vlunet-tiny", dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1)
    weights = core.save_model(net, tmp_path / "net.safetensors")
    out = tmp_path / "eval"
    code = ev.main(["--checkpoint", str(weights), "--suite", "photos", "--photos", str(photos), "--crop", "32",
                    "--crops-per-photo", "1", "--encoder", "none", "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out / "per_task.csv")
    assert list(table["task"]) == [*CANONICAL, "average"] and "detected" not in table
    assert len(pd.read_csv(out / "per_image.csv")) == 2 * len(CANONICAL)
    assert (out / "per_task.md").read_text().startswith("| task")
    assert "average" in capsys.readouterr().out


def test_command_errors_are_one_line(tmp_path, photos, capsys):
    assert ev.main(["--checkpoint", str(tmp_path / "absent.safetensors"), "--encoder", "none"]) == 2
    assert ev.main(["--checkpoint", str(tmp_path / "absent.safetensors"), "--suite", "3task", "--encoder", "none"]) == 2
    lines = [l for l in capsys.readouterr().err.splitlines() if l]
    assert len(lines) == 2 and all(l.startswith("error:") for l in lines)


def test_benchmark_sets_map_to_their_degradation_class():
    from training.data.suites import set_class
    assert [set_class(n) for n in ("cbsd68_15", "cbsd68_50", "rain100l", "sots_outdoor", "gopro", "lol")] == \
        ["noise_15", "noise_50", "rain", "haze", "blur", "low_light"]
    assert set_class("haze") == "haze" and set_class(ev.CLEAN) is None and set_class("cbsd68_30") is None
    rows = pd.DataFrame({"task": ["gopro", "gopro", "cbsd68_25"], "image": ["a", "b", "c"], "input_psnr": 20.0,
                         "input_ssim": 0.5, "psnr": 21.0, "ssim": 0.6, "detected": ["blur", "haze", "noise_25"],
                         "seconds": 0.1})
    table = ev.summarize(rows).set_index("task")
    assert table.loc["gopro", "detected"] == 0.5 and table.loc["cbsd68_25", "detected"] == 1.0


class _Encoder:
    """Stands in for DegradationEncoder: class prompts are the unit axes, images read as axis 6."""

    labels = CANONICAL
    class_embeddings = 3 * torch.eye(len(CANONICAL), 8)

    def encode_image(self, x):
        return torch.eye(len(CANONICAL), 8)[6][None] * 2

    def probabilities(self, d):
        return torch.softmax(d[:, :len(CANONICAL)], dim=1)

    def class_vector(self, label):
        return self.class_embeddings[CANONICAL.index(label)]


def test_oracle_guidance_gives_the_true_class_prompt():
    x = torch.rand(1, 3, 8, 8)
    image, clean = ev.SuiteImage("gopro", "a", x, x), ev.SuiteImage(ev.CLEAN, "a", x, x)
    assert torch.equal(ev.guidance_vector(_Encoder(), image, "oracle"), torch.eye(len(CANONICAL), 8)[5][None])
    assert torch.equal(ev.guidance_vector(_Encoder(), image, "auto"), torch.eye(len(CANONICAL), 8)[6][None])
    assert torch.equal(ev.guidance_vector(_Encoder(), clean, "oracle"), torch.eye(len(CANONICAL), 8)[6][None])
    assert ev.guidance_vector(_Encoder(), image, "uniform") is None and ev.guidance_vector(None, image, "oracle") is None
    with pytest.raises(ValueError, match="guidance must be one of auto, uniform, oracle"):
        ev.guidance_vector(_Encoder(), image, "class")


def test_oracle_guidance_without_the_encoder_is_a_one_line_error(photos, capsys):
    assert ev.main(["--checkpoint", "vlunet-tiny", "--photos", str(photos), "--guidance", "oracle",
                    "--encoder", "none"]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l]
    assert len(err) == 1 and "needs the encoder" in err[0]
