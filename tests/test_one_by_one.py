"""The one-by-one mode: each image restored by the specialist of its degradation type."""
from __future__ import annotations

import pytest
import torch

import core
from core.one_by_one import choose_type, fallback_reason, specialist_type, type_scores
from core.pretrained import specialists_of
from training import evaluate as ev
from training.trainer.data import SuiteImage


class SplitEncoder(torch.nn.Module):
    """Reads every image as noise 15 (0.45) or 25 (0.4) or rain (0.15): no class passes one half."""

    PROBABILITIES = (0.45, 0.4, 0.0, 0.0, 0.15, 0.0, 0.0)

    labels = ("noise_15", "noise_25", "noise_50", "haze", "rain", "blur", "low_light")

    def __init__(self):
        super().__init__()
        self.register_buffer("class_embeddings", torch.eye(7, 512))

    def encode_image(self, images):
        return torch.ones(images.shape[0], 512)

    def encode_text(self, texts):
        return torch.full((len(texts), 512), -1.0)

    def class_vector(self, label):
        return self.class_embeddings[self.labels.index(label)]

    def probabilities(self, d):
        return torch.tensor([self.PROBABILITIES]).expand(d.shape[0], 7)


class UnsureEncoder(SplitEncoder):
    """Noise 77 %, low light 23 %: under the one-by-one mode's SURE line."""

    PROBABILITIES = (0.77, 0.0, 0.0, 0.0, 0.0, 0.0, 0.23)


def _net(seed: int):
    torch.manual_seed(seed)
    return core.create_model("vlunet-tiny").eval()


def test_the_type_sums_the_noise_levels_and_a_named_class_wins():
    probs = dict(zip(SplitEncoder.labels, (0.3, 0.3, 0.0, 0.0, 0.4, 0.0, 0.0)))
    assert type_scores(probs)["noise"] == pytest.approx(0.6)
    assert choose_type(probs) == "noise"
    assert choose_type(probs, "rain") == "rain" and choose_type({}, "noise_50") == "noise"
    assert choose_type({}) is None
    assert specialist_type(probs) is None and "unsure it is noise, 60%" in fallback_reason(probs)
    assert specialist_type(probs, "noise_15") == "noise"           # named: no threshold
    sure = dict(zip(SplitEncoder.labels, SplitEncoder.PROBABILITIES))
    assert specialist_type(sure) == "noise" and fallback_reason(sure) == "no noise specialist"


def test_one_by_one_restores_with_the_specialist_of_the_detected_type():
    image = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0))
    all_in_one, noise, blur = _net(0), _net(1), _net(2)
    restorer = core.Restorer(all_in_one, SplitEncoder(), specialists={"noise": noise, "blur": blur})
    auto = restorer.restore(image, mode="one-by-one")
    assert auto.network == "noise specialist"
    assert torch.equal(auto.tensor, core.Restorer(noise, SplitEncoder()).restore(image).tensor)
    assert not torch.equal(auto.tensor, restorer.restore(image, mode="all-in-one").tensor)   # all-in-one differs
    assert restorer.default_mode == "one-by-one"                                 # specialists and an encoder
    assert torch.equal(restorer.restore(image).tensor, auto.tensor)
    assert restorer.restore(image, mode="all-in-one").network == "all-in-one"
    assert core.Restorer(all_in_one, SplitEncoder()).default_mode == "all-in-one"               # no specialists
    assert core.Restorer(all_in_one, None, specialists={"noise": noise}).default_mode == "all-in-one"  # no encoder
    named = restorer.restore(image, degradation="rain", mode="one-by-one")       # no rain specialist
    assert named.network == "all-in-one"
    assert torch.equal(named.tensor, restorer.restore(image, degradation="rain", mode="all-in-one").tensor)
    assert restorer.restore(image, degradation="blur", mode="one-by-one").network == "blur specialist"
    with pytest.raises(ValueError, match="mode"):
        restorer.restore(image, mode="specialists")
    unsure = core.Restorer(all_in_one, UnsureEncoder(), specialists={"noise": noise})
    assert unsure.restore(image, mode="one-by-one").network == "all-in-one"    # the detector is not sure enough


def test_bad_specialists_and_a_mode_without_detection_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown degradation types"):
        core.Restorer(_net(0), specialists={"snow": _net(1)})
    restorer = core.Restorer(_net(0), specialists={"noise": _net(1)})
    with pytest.raises(ValueError, match="encoder"):
        restorer.restore(torch.rand(3, 32, 32), mode="one-by-one")
    with pytest.raises(ValueError, match="unknown degradation types"):
        ev.load_specialists(["fog=x.safetensors"])
    with pytest.raises(ValueError, match="TYPE=WEIGHTS"):
        ev.load_specialists(["noise"])


def test_from_pretrained_loads_specialists_by_path(tmp_path):
    core.save_model(_net(1), tmp_path / "noise.safetensors")
    restorer = core.Restorer.from_pretrained(encoder=None, specialists={"noise": tmp_path / "noise.safetensors"})
    assert set(restorer.specialists) == {"noise"}
    assert specialists_of(tmp_path / "any.safetensors") == {}


def test_a_missing_or_corrupt_specialist_raises_for_a_library_call_and_is_named_for_the_studio(tmp_path):
    core.save_model(_net(1), tmp_path / "noise.safetensors")
    (tmp_path / "blur.safetensors").write_bytes(b"not a safetensors file")
    asked = {"noise": tmp_path / "noise.safetensors", "blur": tmp_path / "blur.safetensors",
             "haze": tmp_path / "absent.safetensors"}
    with pytest.raises(core.CheckpointError, match="blur.safetensors"):
        core.Restorer.from_pretrained(encoder=None, specialists=asked)
    loaded, missing = core.load_specialists(asked, strict=False)
    assert set(loaded) == {"noise"}
    assert [m.split(" ")[0] for m in missing] == ["blur", "haze"]
    assert "absent.safetensors" in missing[1]


def test_evaluation_picks_the_specialist_per_image_like_the_restorer():
    clean = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    image = SuiteImage("rain", "a", clean.clamp(0.1, 0.9), clean)
    all_in_one, noise = _net(0), _net(1)
    restorer = core.Restorer(all_in_one, SplitEncoder(), specialists={"noise": noise})
    auto = ev.network_method(all_in_one, SplitEncoder(), specialists={"noise": noise})(image)
    assert torch.allclose(auto[0], restorer.restore(image.degraded[0], mode="one-by-one").tensor, atol=1e-6)
    oracle = ev.network_method(all_in_one, SplitEncoder(), "oracle", specialists={"noise": noise})(image)
    assert torch.allclose(oracle[0], restorer.restore(image.degraded[0], degradation="rain", mode="one-by-one").tensor,
                          atol=1e-6)
    with pytest.raises(ValueError, match="encoder"):
        ev.network_method(all_in_one, None, specialists={"noise": noise})


def test_the_comparison_adds_a_one_by_one_row_for_a_shipped_model_with_specialists(tmp_path, monkeypatch):
    from core import pretrained
    from training.compare import one_by_one_entries, shipped_files
    core.save_model(_net(1), tmp_path / "noise.safetensors")
    default = pretrained.ASSETS / pretrained.PRETRAINED[pretrained.DEFAULT].file
    monkeypatch.setattr(pretrained, "SPECIALISTS", {})
    assert one_by_one_entries(shipped_files()) == []
    monkeypatch.setitem(pretrained.SPECIALISTS, pretrained.DEFAULT, {"noise": str(tmp_path / "noise.safetensors")})
    [(label, _, weights, files)] = one_by_one_entries(shipped_files())
    assert weights == default and files == {"noise": tmp_path / "noise.safetensors"} and "one-by-one" in label
    assert label.endswith(", self-ensemble mirror x2)")   # as the studio restores the default


def test_the_comparison_restores_each_shipped_file_as_the_studio_does(tmp_path):
    from core import pretrained
    from training.compare import ensemble_of
    default = pretrained.ASSETS / pretrained.PRETRAINED[pretrained.DEFAULT].file
    assert ensemble_of(default) == pretrained.default_ensemble() == "mirror"
    assert ensemble_of(pretrained.ASSETS / pretrained.PRETRAINED["vlunet-tiny-gpu"].file) == "mirror"
    assert ensemble_of(core.save_model(_net(1), tmp_path / "w.safetensors")) == "none"   # a run's file: one pass


def test_the_shipped_specialists_come_with_their_model_not_as_models_of_their_own():
    from app.config import AppConfig
    from app.models import model_choices
    from core import pretrained
    assert set(pretrained.specialists_of("vlunet-tiny")) == {"noise", "blur", "haze"}
    specialists = set(pretrained.specialists_of("vlunet-tiny").values())
    assert specialists <= set(pretrained.list_pretrained()) and not specialists & set(pretrained.all_in_one_names())
    assert not specialists & {value for _, value in model_choices(AppConfig())}
    assert all(pretrained.recipe_file(name) == "training/configs/vlunet-tiny-specialists.yaml" for name in specialists)
