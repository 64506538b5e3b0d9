"""The Restorer on real-photo inputs, the shipped-weights registry and the command line."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import core
import core.pretrained as pretrained
from core.__main__ import main as cli
from core.guidance import Guidance


class FakeEncoder(torch.nn.Module):
    """Stands in for DegradationEncoder: fixed embeddings, detects "rain" for bright images."""

    labels = ("noise_15", "noise_25", "noise_50", "rain", "haze", "blur", "low_light")

    def __init__(self):
        super().__init__()
        self.register_buffer("class_embeddings", torch.eye(7, 512))

    def encode_image(self, images):
        return images.mean() * torch.ones(images.shape[0], 512)

    def encode_text(self, texts):
        return torch.full((len(texts), 512), -1.0)

    def class_vector(self, label):
        return self.class_embeddings[self.labels.index(label)]

    def probabilities(self, d):
        p = torch.full((d.shape[0], 7), 0.05)
        p[:, 3] = 0.7
        return p


@pytest.fixture
def restorer(tiny_net):
    return core.Restorer(tiny_net, FakeEncoder())


def test_restore_keeps_size_mode_and_alpha(restorer, rng):
    rgba = (torch.rand(29, 37, 4, generator=rng) * 255).to(torch.uint8).numpy()
    result = restorer.restore(Image.fromarray(rgba, "RGBA"))
    assert result.image.size == (37, 29) and result.image.mode == "RGBA"
    assert np.array_equal(np.asarray(result.image)[..., 3], rgba[..., 3])
    gray = restorer.restore(Image.fromarray(rgba[..., 0], "L"))
    assert gray.image.mode == "L" and gray.image.size == (37, 29)
    assert result.tensor.shape == (3, 29, 37) and 0 <= result.tensor.min() and result.tensor.max() <= 1
    assert set(result.timings) == {"read", "encoder", "network", "total"}
    assert max(result.degradation, key=result.degradation.get) == "rain"
    assert result.guidance == "auto" and result.stages is None


def test_degradation_choices_steer_the_network(restorer, rng):
    x = torch.rand(3, 24, 24, generator=rng)
    outs = {}
    for choice in (None, "uniform", "haze", "remove the fog"):
        res = restorer.restore(x, degradation=choice)
        outs[res.guidance] = res.tensor
    assert set(outs) == {"auto", "uniform", "class:haze", "text:remove the fog"}
    assert not torch.allclose(outs["auto"], outs["uniform"])
    assert not torch.allclose(outs["class:haze"], outs["text:remove the fog"])
    guide = restorer.guidance(x[None], "haze")
    assert isinstance(guide, Guidance) and torch.allclose(guide.d.norm(dim=-1), torch.ones(1))


def test_without_encoder_only_uniform_is_possible(tiny_net, rng):
    plain = core.Restorer(tiny_net)
    res = plain.restore(torch.rand(3, 16, 16, generator=rng))
    assert res.degradation == {} and res.guidance == "uniform"
    with pytest.raises(ValueError, match="needs a degradation encoder"):
        plain.restore(torch.rand(3, 16, 16, generator=rng), degradation="rain")


def test_trace_and_tiling(restorer, rng):
    x = torch.rand(3, 37, 29, generator=rng)
    traced = restorer.restore(x, trace=True)
    assert len(traced.stages) == 8 and traced.stages[0].resolution == (40, 32)
    untiled = restorer.restore(x, tile=0).tensor
    assert torch.allclose(traced.tensor, untiled, atol=1e-6)
    ticks = []
    tiled = restorer.restore(x, tile=16, overlap=4, progress=lambda d, t: ticks.append(d))
    assert tiled.image.size == (29, 37) and len(ticks) > 1
    with pytest.raises(ValueError, match="untiled"):
        restorer.restore(x, trace=True, tile=16)


def test_missing_shipped_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "ASSETS", tmp_path)
    with pytest.raises(core.WeightsNotFoundError, match="training.train_restorer"):
        core.Restorer.from_pretrained()
    with pytest.raises(core.WeightsNotFoundError, match="registered names"):
        core.Restorer.from_pretrained(tmp_path / "nowhere.safetensors")


@pytest.mark.parametrize("name", pretrained.list_pretrained())
def test_every_registered_weights_file_loads_with_its_training_record(name):
    path = pretrained.resolve_weights(name)
    network = core.load_model(path)
    info = core.checkpoint.checkpoint_info(path)
    assert network.config == core.model_config(info["model"])   # a registered configuration, unchanged
    assert info["steps"] > 0 and len(info["encoder"]["sha256"]) == 64


def test_command_line_restores_the_good_and_reports_the_bad(tiny_net, tmp_path, rng, capsys):
    weights = core.save_model(tiny_net, tmp_path / "w.safetensors")
    good = tmp_path / "good.png"
    Image.fromarray((torch.rand(20, 30, 3, generator=rng) * 255).to(torch.uint8).numpy()).save(good)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    code = cli(["restore", str(bad), str(good), "-o", str(tmp_path / "out"),
                "--weights", str(weights), "--no-encoder"])
    err = capsys.readouterr().err
    assert code == 1
    assert "bad.png" in err and "1 of 2 images failed" in err
    restored = Image.open(tmp_path / "out" / "good_restored.png")
    assert restored.size == (30, 20)
    assert cli(["restore", str(good), "-o", str(tmp_path / "o2"), "--weights", str(weights),
                "--no-encoder"]) == 0
    buf = io.BytesIO()
    restored.save(buf, "PNG")
    assert buf.getvalue()


def test_tiles_keep_the_whole_process_within_the_memory_budget():
    """Tile side: the process at load + the image's buffers + one tile's activations fit the budget."""
    from core.restorer import activation_bytes_per_pixel, image_buffer_bytes
    paper = core.create_model("vlunet-paper")
    tiny = core.Restorer(core.create_model("vlunet-tiny"))
    tiny.resident_at_load = 900 * 2 ** 20   # this process's own figure depends on the tests before
    assert tiny.untiled_limit == core.restorer.AUTO_TILE_PIXELS and tiny.auto_tile(1024, 1024) == 0
    assert tiny.auto_tile(3000, 4000) == 512
    for budget_gb in (3, 2.5):
        restorer = core.Restorer(paper, memory_budget=int(budget_gb * 2 ** 30))
        restorer.resident_at_load = tiny.resident_at_load
        tile = restorer.auto_tile(3000, 4000)
        assert tile % 32 == 0 and 128 <= tile < 512
        used = restorer.resident_at_load + image_buffer_bytes(3000, 4000) + tile ** 2 * activation_bytes_per_pixel(paper)
        assert used <= restorer.memory_budget < used + ((tile + 32) ** 2 - tile ** 2) * activation_bytes_per_pixel(paper)
