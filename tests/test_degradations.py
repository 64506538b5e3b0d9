"""Degradation synthesis: determinism, ranges, PSNR bands, recorded parameters, mixtures."""

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from core.degradations import (CANONICAL, COARSE, COARSE_OF, FAMILY_OF, BlurConfig, DegradationError,
                               DegradationSampler, HazeConfig, LowLightConfig, MixtureParams, NoiseConfig,
                               RainConfig, canonical_mixture, degrade, depth_map, label_of, synthesize)

SINGLE = CANONICAL + ("noise", "rain_heavy")


@pytest.fixture(scope="module")
def astronaut():
    return torch.from_numpy(data.astronaut().copy()).permute(2, 0, 1)[None].float() / 255.0


def psnr(a, b):
    return peak_signal_noise_ratio(a[0].numpy(), b[0].numpy(), data_range=1.0)


def mean_psnr(clean, name, n=6, seed=0):
    s = DegradationSampler(seed=seed)
    return float(np.mean([psnr(clean, synthesize(clean, name, s.sample(name, 1, *clean.shape[-2:]))) for _ in range(n)]))


def test_names_follow_the_authors_label_order():
    assert CANONICAL == ("noise_15", "noise_25", "noise_50", "haze", "rain", "blur", "low_light")
    assert set(COARSE_OF) == set(CANONICAL) and set(COARSE_OF.values()) == set(COARSE)
    assert [label_of(n) for n in CANONICAL] == list(range(7))
    with pytest.raises(DegradationError):
        label_of("haze+noise_25")


@pytest.mark.parametrize("name", SINGLE + ("haze+noise_25", "low_light+noise"))
def test_seeded_pure_in_range(name):
    x = torch.rand(2, 3, 37, 31, generator=torch.Generator().manual_seed(1))
    p1 = DegradationSampler(seed=3).sample(name, 2, 37, 31)
    p2 = DegradationSampler(seed=3).sample(name, 2, 37, 31)
    y1, y2 = synthesize(x, name, p1), synthesize(x, name, p2)
    assert torch.equal(y1, y2) and torch.equal(y1, synthesize(x, name, p1))
    assert y1.shape == x.shape and y1.min() >= 0 and y1.max() <= 1
    assert not torch.allclose(y1, x, atol=1e-3)
    y3 = synthesize(x, name, DegradationSampler(seed=4).sample(name, 2, 37, 31))
    assert not torch.equal(y1, y3)
    # each item depends only on its own parameters
    assert torch.allclose(synthesize(x[1:], name, p1.select(1)), y1[1:], atol=1e-5)


@pytest.mark.parametrize("name", SINGLE)
def test_params_record_everything(name):
    p = DegradationSampler(seed=0).sample(name, 3)
    s = p.summary()
    assert s["family"] == FAMILY_OF[name]
    tensors = {k: v for k, v in vars(p).items() if isinstance(v, torch.Tensor)}
    assert tensors and all(len(s[k]) == 3 for k in tensors)
    item = p.item(2)
    assert set(item) == set(vars(p)) and isinstance(item["seed"], int)


def test_noise_psnr_bands_and_clipping(astronaut):
    for sigma, theory in ((15, 24.61), (25, 20.17), (50, 14.15)):
        clipped = mean_psnr(astronaut, f"noise_{sigma}", n=2)
        assert theory <= clipped <= theory + 1.3, (sigma, clipped)
        p = DegradationSampler(seed=0).sample(f"noise_{sigma}", 1)
        raw = synthesize(astronaut, "noise", type(p)(seed=p.seed, sigma=p.sigma, clip=False))
        assert abs(psnr(astronaut, raw) - theory) < 0.1
        assert raw.min() < 0 and raw.max() > 1  # clipping is what keeps the range
    p = DegradationSampler(seed=0).sample("noise_25", 1)
    q = synthesize(astronaut, "noise", type(p)(seed=p.seed, sigma=p.sigma, quantize=True))
    assert torch.allclose(q * 255, (q * 255).round(), atol=1e-4)


def test_continuous_noise_range():
    p = DegradationSampler(seed=0).sample("noise", 64)
    assert 5 <= p.sigma.min() < 15 and 45 < p.sigma.max() <= 55


def test_rain_psnr_bands(astronaut):
    assert 25.5 <= mean_psnr(astronaut, "rain", n=8) <= 28.0  # Rain100L-like
    assert 11.0 <= mean_psnr(astronaut, "rain_heavy", n=4) <= 17.0  # Rain100H-like


def test_rain_streaks_are_bright_and_oriented():
    x = torch.full((1, 3, 96, 96), 0.3)
    p = DegradationSampler(seed=0).sample("rain", 1)
    y = synthesize(x, "rain", p)
    assert (y >= x - 1e-6).all()  # screen blend only brightens
    s = (y - x)[0, 0]
    vert = (s[1:] * s[:-1]).sum() / (s * s).sum()  # streaks near vertical: strong vertical correlation
    horiz = (s[:, 1:] * s[:, :-1]).sum() / (s * s).sum()
    assert vert > horiz


def test_haze_has_depth(astronaut):
    x = torch.full((1, 3, 64, 64), 0.2)
    p = DegradationSampler(seed=0).sample("haze", 1)
    p = type(p)(**{**vars(p), "depth_weights": torch.tensor([[1.0, 0.0, 0.0]])})
    d = depth_map(x, p)
    assert d[0, 0, 0].mean() > d[0, 0, -1].mean()  # top of the image is farther
    y = synthesize(x, "haze", p)
    assert y[0, :, 0].mean() > y[0, :, -1].mean() > 0.2  # more airlight far away
    assert 8.0 <= mean_psnr(astronaut, "haze", n=4) <= 18.0


def test_blur_and_low_light_bands(astronaut):
    assert 21.0 <= mean_psnr(astronaut, "blur", n=4) <= 29.0
    s = DegradationSampler(seed=0)
    y = synthesize(astronaut, "low_light", s.sample("low_light", 1))
    assert 0.02 < y.mean() < 0.25 and 5.0 <= psnr(astronaut, y) <= 13.0  # LOL-like
    sharp = torch.zeros(1, 3, 33, 33)
    sharp[..., 16, 16] = 1.0
    p = s.sample("blur", 1)
    k = synthesize(sharp, "blur", p)
    assert k.max() < 0.5 and math.isclose(float(k.sum()), 3.0, rel_tol=1e-3)  # a normalised kernel


def test_mixture_is_sequential_in_physical_order(astronaut):
    x = astronaut[..., :64, :64]
    assert canonical_mixture("noise_25+haze") == "haze+noise_25"
    p = DegradationSampler(seed=5).sample("noise_25+haze", 1)
    assert isinstance(p, MixtureParams) and p.names == ("haze", "noise_25")
    y = synthesize(x, "noise_25+haze", p)
    ref = synthesize(synthesize(x, "haze", p.components[0]), "noise_25", p.components[1])
    assert torch.equal(y, ref)
    assert p.summary()["names"] == ["haze", "noise_25"] and "haze" in p.item(0)


def test_degrade_with_generator_and_errors():
    x = torch.rand(2, 3, 40, 40)
    y1, p1 = degrade(x, "blur", torch.Generator().manual_seed(0))
    y2, p2 = degrade(x, "blur", torch.Generator().manual_seed(0))
    assert torch.equal(y1, y2) and torch.equal(p1.length, p2.length)
    with pytest.raises(DegradationError, match="unknown degradation"):
        DegradationSampler().sample("fog", 1)
    with pytest.raises(DegradationError, match="repeats"):
        DegradationSampler().sample("noise_15+noise_25", 1)
    with pytest.raises(DegradationError, match="B x 3 x H x W"):
        synthesize(torch.rand(3, 40, 40), "blur", p1)
    with pytest.raises(DegradationError, match="must be"):
        synthesize(x, "rain", p1)
    with pytest.raises(DegradationError, match="parameters are for"):
        synthesize(x[:1], "blur", p1)


@pytest.mark.parametrize("build, match", [
    (lambda: BlurConfig(motion_probability=1.5), r"BlurConfig.motion_probability must be in \[0, 1\], got 1.5"),
    (lambda: BlurConfig(length=(25.0, 5.0)), r"BlurConfig.length must be \(low, high\) with low <= high"),
    (lambda: HazeConfig(beta=(2.0, 0.6)), r"HazeConfig.beta must be"),
    (lambda: NoiseConfig(sigma_range=(55.0, 5.0)), r"NoiseConfig.sigma_range must be"),
    (lambda: LowLightConfig(gamma=(1.3, 1.0)), r"LowLightConfig.gamma must be"),
    (lambda: RainConfig(density=(0.01, 0.001)), r"RainConfig.density must be")])
def test_family_configs_refuse_bad_ranges_when_built(build, match):
    """Every sampling config checks itself, so no sampler ever draws from an inverted range."""
    with pytest.raises(DegradationError, match=match) as err:
        build()
    assert "\n" not in str(err.value)
    assert BlurConfig(motion_probability=0.0, length=(5.0, 5.0)).motion_probability == 0.0   # edges are fine
