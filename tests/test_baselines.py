"""Baselines: the equal-parameter PromptIR-style network and the classical methods."""
from __future__ import annotations

import pytest
import torch
from skimage import data

import core
from core.degradations import degrade
from core.degradations.blur import BlurConfig, apply_blur, sample_blur
from core.metrics import psnr
from training.baselines import classical, create_baseline, list_baselines
from training.trainer.data import SuiteImage
from training.trainer.models import count_parameters, load_network, save_network


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("baseline, vlunet", [("promptir-tiny", "vlunet-tiny"), ("promptir-paper", "vlunet-paper")])
def test_each_baseline_has_the_parameter_count_of_its_vlunet(baseline, vlunet):
    target = count_parameters(core.create_model(vlunet))
    assert baseline in list_baselines()
    assert abs(count_parameters(create_baseline(baseline)) - target) / target < 0.01


def test_promptir_forward_save_load(tmp_path):
    torch.manual_seed(0)
    net = create_baseline("promptir-tiny", dim=8, prompt_dim=(8, 8, 8)).eval()
    x = torch.rand(2, 3, 40, 24)
    y = net(x, torch.randn(2, 512))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert torch.equal(net(x), net(x, None))                     # the guidance vector is ignored
    back = load_network(save_network(net, tmp_path / "b.safetensors", info={"steps": 1}))
    assert torch.equal(back(x), net(x).detach())
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 30, 24))


def test_flipped_bit_in_a_baseline_file_is_one_line(tmp_path, flip_bit):
    torch.manual_seed(0)
    path = save_network(create_baseline("promptir-tiny", dim=8, prompt_dim=(8, 8, 8)), tmp_path / "b.safetensors")
    flip_bit(path)
    with pytest.raises(core.CheckpointError, match="checksum") as err:
        load_network(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return torch.from_numpy(data.astronaut()[::8, ::8].copy()).permute(2, 0, 1)[None].float() / 255   # 64 x 64


@pytest.mark.parametrize("task, method", [
    ("noise_50", classical.cbm3d), ("noise_25", classical.nl_means), ("blur", classical.wiener),
    ("blur", classical.richardson_lucy), ("low_light", classical.gamma), ("low_light", classical.clahe),
    ("haze", classical.dark_channel_prior)])
def test_classical_methods_improve_their_degradation(astronaut, task, method):
    degraded, params = degrade(astronaut, task, torch.Generator().manual_seed(1))
    image = SuiteImage(task, "astronaut", degraded.clamp(0, 1), astronaut, params)
    out = method(image)
    assert out.shape == astronaut.shape and out.min() >= 0 and out.max() <= 1
    assert psnr(out, astronaut) > psnr(image.degraded, astronaut) + 1.0


@pytest.mark.parametrize("task, method", [
    ("noise_25", "CBM3D (estimated sigma)"), ("noise_50", "NLM (estimated sigma)"), ("noise_25", "TV denoising")])
def test_blind_denoisers_need_nothing_but_the_image(astronaut, task, method):
    degraded, params = degrade(astronaut, task, torch.Generator().manual_seed(1))
    image = SuiteImage(task, "astronaut", degraded.clamp(0, 1), astronaut, None)   # no parameters, no true sigma
    assert classical.is_blind(method)
    assert classical.estimated_sigma(image) * 255 == pytest.approx(float(params.sigma.flatten()[0]), rel=0.35)
    out = classical.METHODS[method][1](image)
    assert out.shape == astronaut.shape and psnr(out, astronaut) > psnr(image.degraded, astronaut) + 1.0


def test_unsharp_mask_sharpens_a_gaussian_blur_without_the_kernel(astronaut):
    params = sample_blur(torch.Generator().manual_seed(0), 1, BlurConfig(motion_probability=0.0, sigma=(1.0, 1.0)))
    image = SuiteImage("blur", "astronaut", apply_blur(astronaut, params), astronaut, None)   # no oracle
    out = classical.unsharp_mask(image)
    assert out.shape == astronaut.shape and out.min() >= 0 and out.max() <= 1
    assert psnr(out, astronaut) > psnr(image.degraded, astronaut) + 1.0
    assert classical.METHODS["unsharp mask"] == (("blur",), classical.unsharp_mask)


def test_oracle_methods_say_what_they_miss(astronaut):
    image = SuiteImage("blur", "x", astronaut, astronaut, None)
    with pytest.raises(classical.OracleMissingError, match="true kernel"):
        classical.wiener(image)
    assert classical.true_sigma(SuiteImage("cbsd68_25", "x", astronaut, astronaut)) == pytest.approx(25 / 255)
    assert set(classical.METHODS) >= {"CBM3D (true sigma)", "dark channel prior", "Richardson-Lucy (true kernel)"}
    assert not classical.is_blind("CBM3D (true sigma)") and classical.is_blind("3x3 median")
