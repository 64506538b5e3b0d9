"""The one-by-one setting beside the all-in-one model: one network per degradation type, chosen
for each image by the degradation encoder.

The paper compares its all-in-one VLU-Net with methods trained one-by-one, one model per
degradation (its five-task table, Sec. 4). Here a *specialist* is a VLU-Net of the same
architecture trained on one degradation type (``training/configs/vlunet-tiny-specialists.yaml``);
:class:`core.Restorer` in ``mode="one-by-one"`` restores each image with the specialist of its
type and falls back to the all-in-one network for a type without one. The type is the user's
class when one is named, else the detected type: the encoder's class probabilities summed per
type (the three noise levels make one type), so that a photo read as "noise 15, 40 %; noise 25,
35 %" goes to the noise specialist even though no single class passes one half.
"""
from __future__ import annotations

from .degradations import COARSE_OF

#: Degradation types a specialist can serve, in the canonical label order.
TYPES = tuple(dict.fromkeys(COARSE_OF.values()))
#: ``Restorer.restore(mode=...)``.
MODES = ("all-in-one", "one-by-one")
#: What :attr:`core.RestoreResult.network` says of the all-in-one network.
ALL_IN_ONE = "all-in-one"


def type_scores(probabilities: dict[str, float]) -> dict[str, float]:
    """Class probabilities (canonical name -> p) -> type -> summed probability."""
    scores: dict[str, float] = {}
    for label, p in probabilities.items():
        kind = COARSE_OF.get(label, label)
        scores[kind] = scores.get(kind, 0.0) + float(p)
    return scores


def choose_type(probabilities: dict[str, float], degradation: str | None = None) -> str | None:
    """The degradation type an image is restored as: that of a named class (``"rain"``,
    ``"noise_25"``), else the most probable detected type; None when nothing was detected."""
    key = (degradation or "").strip().lower()
    if key in COARSE_OF:
        return COARSE_OF[key]
    scores = type_scores(probabilities)
    return max(scores, key=scores.get) if scores else None


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def check_specialists(specialists: dict | None) -> dict:
    """``{type: network}`` with known types only (one-line ValueError otherwise)."""
    specialists = dict(specialists or {})
    unknown = sorted(set(specialists) - set(TYPES))
    if unknown:
        raise ValueError(f"specialists for unknown degradation types {unknown}; types: {', '.join(TYPES)}")
    return specialists


def specialist_label(kind: str) -> str:
    """What :attr:`core.RestoreResult.network` says of the specialist of ``kind``."""
    return f"{kind} specialist"
