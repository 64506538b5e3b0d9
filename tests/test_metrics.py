"""core.metrics: PSNR/SSIM in the papers' convention (RGB on [0, 1], scikit-image)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from core.metrics import MetricInputError, centre_crop_multiple, psnr, psnr_ssim, ssim


def test_psnr_of_a_uniform_error_is_known():
    clean = np.full((17, 23, 3), 0.5)
    assert psnr(clean + 0.1, clean) == pytest.approx(20.0, abs=1e-9)        # 20 log10(1 / 0.1)
    assert psnr(clean + 0.01, clean) == pytest.approx(40.0, abs=1e-9)


def test_psnr_of_one_wrong_pixel():
    clean = np.zeros((16, 16, 3))
    restored = clean.copy()
    restored[3, 4, 1] = 1.0
    assert psnr(restored, clean) == pytest.approx(10 * math.log10(16 * 16 * 3))


def test_identical_images():
    x = torch.rand(3, 19, 21, generator=torch.Generator().manual_seed(0))
    assert psnr(x, x) == math.inf
    assert ssim(x, x) == pytest.approx(1.0)


def test_restored_is_clipped_to_unit_range():
    clean = np.full((8, 8, 3), 1.0)
    assert psnr(clean + 0.3, clean) == math.inf          # values above 1 are clipped first


def test_tensor_and_array_inputs_agree_and_ssim_matches_skimage(rng):
    a, b = torch.rand(1, 3, 37, 31, generator=rng), torch.rand(1, 3, 37, 31, generator=rng)
    ha, hb = a[0].permute(1, 2, 0).double().numpy(), b[0].permute(1, 2, 0).double().numpy()
    assert psnr(a, b) == pytest.approx(psnr(ha, hb))
    expected = structural_similarity(hb, ha, data_range=1.0, channel_axis=-1)
    assert ssim(a, b) == pytest.approx(expected)
    assert psnr_ssim(a, b) == (psnr(a, b), ssim(a, b))


def test_crop_multiple_uses_the_centre(rng):
    a, b = torch.rand(3, 37, 31, generator=rng), torch.rand(3, 37, 31, generator=rng)
    assert centre_crop_multiple(np.zeros((37, 31, 3)), 16).shape == (32, 16, 3)
    assert psnr(a, b, crop_multiple=16) == pytest.approx(psnr(a[:, 2:34, 7:23], b[:, 2:34, 7:23]))


@pytest.mark.parametrize("x, y", [(np.zeros((8, 8, 3)), np.zeros((8, 9, 3))),
                                  (np.zeros((8, 8)), np.zeros((8, 8))),
                                  (torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))])
def test_bad_inputs_raise_one_clear_error(x, y):
    with pytest.raises(MetricInputError):
        psnr(x, y)
