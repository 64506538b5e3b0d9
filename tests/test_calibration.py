"""training.calibration: expected calibration error and the fitted logit scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from training.calibration import expected_calibration_error, fit_scale


def test_ece_is_zero_when_confidence_matches_accuracy_and_grows_with_overconfidence():
    labels = np.array([0, 0, 0, 1])                     # 3 of 4 right at 75 % confidence
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)
    sure = np.array([[1.0, 0.0]] * 4)                   # 100 % sure, 75 % right
    assert expected_calibration_error(sure, labels) == pytest.approx(0.25)


def test_the_fitted_scale_recovers_the_scale_that_generated_the_labels():
    g = torch.Generator().manual_seed(0)
    cosines = torch.rand(4000, 7, generator=g) * 2 - 1
    labels = torch.multinomial((12.0 * cosines).softmax(-1), 1, generator=g)[:, 0]
    assert fit_scale(cosines, labels, initial=30.0) == pytest.approx(12.0, rel=0.1)
    calibrated = (12.0 * cosines).softmax(-1).numpy()
    assert expected_calibration_error(calibrated, labels.numpy()) < 0.03 < \
        expected_calibration_error((60.0 * cosines).softmax(-1).numpy(), labels.numpy())
