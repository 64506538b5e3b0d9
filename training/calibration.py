"""How far the encoder's detection probabilities can be trusted: expected calibration error, and the
temperature that would calibrate them (Guo et al., ICML 2017, "On Calibration of Modern Neural
Networks": one scalar dividing the logits, fitted by likelihood on held-in data).

The encoder's probabilities are ``softmax(logit_scale * cos(d_I, t_c))``; a fitted scale is the
``logit_scale`` that makes them calibrated on the crops it was fitted on.
"""
from __future__ import annotations

import numpy as np
import torch


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: |accuracy - confidence| of the top class, averaged over equal-width confidence bins
    weighted by their share of samples. probabilities N x C, labels N."""
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels)
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    correct = (predicted == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def fit_scale(cosines: torch.Tensor, labels: torch.Tensor, initial: float = 30.0) -> float:
    """The scale s minimising the cross-entropy of ``softmax(s * cosines)`` (N x C) against ``labels``."""
    log_scale = torch.tensor(float(np.log(initial)), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_scale], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")
    cosines, labels = cosines.double(), labels.long()

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(log_scale.double().exp() * cosines, labels)
        loss.backward()
        return loss
    optimizer.step(closure)
    return float(log_scale.detach().exp())
