"""The one-by-one setting beside the all-in-one model: one network per degradation type, chosen
for each image by the degradation encoder.

The paper compares its all-in-one VLU-Net with methods trained one-by-one, one model per
degradation (its five-task table, Sec. 4). Here a *specialist* is a VLU-Net of the same
architecture trained on one degradation type (``training/configs/vlunet-tiny-specialists.yaml``);
:class:`core.Restorer` in ``mode="one-by-one"`` restores each image with the specialist of its
type and falls back to the all-in-one network for a type without one. The type is the user's
class when one is named, else the detected type: the encoder's class probabilities summed per
type (the three noise levels make one type), so that a photo read as "noise 15, 40 %; noise 25,
35 %" goes to the noise specialist even though no single class passes one half. A detected type
below :data:`SURE` goes to the all-in-one network: a specialist restores other degradations
badly (the noise specialist loses 15 dB on a dark photo it was sent by mistake), the all-in-one
network restores them all.
"""
from __future__ import annotations

from .degradations import COARSE_OF

#: Degradation types a specialist can serve, in the canonical label order.
TYPES = tuple(dict.fromkeys(COARSE_OF.values()))
#: ``Restorer.restore(mode=...)``.
MODES = ("all-in-one", "one-by-one")
#: What :attr:`core.RestoreResult.network` says of the all-in-one network.
ALL_IN_ONE = "all-in-one"
ONE_BY_ONE = "one-by-one"
#: Summed probability a detected type needs for its specialist (the studio's "unsure" line).
SURE = 0.8


def type_scores(probabilities: dict[str, float]) -> dict[str, float]:
    """Class probabilities (canonical name -> p) -> type -> summed probability."""
    scores: dict[str, float] = {}
    for label, p in probabilities.items():
        kind = COARSE_OF.get(label, label)
        scores[kind] = scores.get(kind, 0.0) + float(p)
    return scores


def _named_type(degradation: str | None) -> str | None:
    """The type of a class the user named (``"rain"``, ``"noise_25"``), else None."""
    return COARSE_OF.get((degradation or "").strip().lower())


def choose_type(probabilities: dict[str, float], degradation: str | None = None) -> str | None:
    """The degradation type an image is restored as: that of a named class (``"rain"``,
    ``"noise_25"``), else the most probable detected type; None when nothing was detected."""
    scores = type_scores(probabilities)
    return _named_type(degradation) or (max(scores, key=scores.get) if scores else None)


def specialist_type(probabilities: dict[str, float], degradation: str | None = None) -> str | None:
    """The type whose specialist restores the image in the one-by-one mode: that of a named class,
    else the detected type when its summed probability reaches :data:`SURE`; None otherwise (the
    all-in-one network restores it)."""
    kind = choose_type(probabilities, degradation)
    if kind is None or _named_type(degradation):
        return kind
    return kind if type_scores(probabilities)[kind] >= SURE else None


def fallback_reason(probabilities: dict[str, float], degradation: str | None = None) -> str:
    """Why the one-by-one mode left an image to the all-in-one network, in a few words."""
    kind = choose_type(probabilities, degradation)
    if kind is None:
        return "nothing detected"
    name = kind.replace("_", " ")
    if specialist_type(probabilities, degradation) is None:
        return f"unsure it is {name}, {type_scores(probabilities)[kind]:.0%}"
    return f"no {name} specialist"


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
