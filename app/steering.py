"""Making the steering visible: what a description reads as, whether it names a degradation at all,
how sure the detector is, and the photo under every class's guidance (a contact sheet).

Paper Sec. 3.2-3.3: the network is steered by d_I, the adapted embedding of the photo (auto) or
of words (a class prompt, or the user's description). Words are read the way a photo is: their
adapted embedding is scored against the seven class vectors (:meth:`DegradationEncoder.probabilities`).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from core.degradations import CANONICAL
from core.one_by_one import ALL_IN_ONE, ONE_BY_ONE, fallback_reason

from . import plots

# Words unrelated to photo defects: a description that is no closer to the encoder's degradation
# prompts than the closest of these names no degradation (see :func:`read_words`).
UNRELATED = ("a cat sitting on a sofa", "my holiday in paris", "hello", "a bowl of fruit",
             "the quarterly sales report", "a red car parked outside")
UNSURE_BELOW = 0.8        # top probability under which the detector is reported as unsure
CONTACT_SIDE = 256        # long side of the contact sheet's restores (each is a full pass)

_reference: "weakref.WeakKeyDictionary[object, tuple[torch.Tensor, list[str], float]]" = weakref.WeakKeyDictionary()
_reference_lock = threading.Lock()


@dataclass(frozen=True)
class WordsReading:
    """What a description reads as: class -> probability, its closest prompt and whether it names
    a degradation at all (``similarity`` to that prompt above ``threshold``, the unrelated words' best)."""

    probabilities: dict[str, float]
    closest_prompt: str
    similarity: float
    threshold: float

    @property
    def matches(self) -> bool:
        return self.similarity > self.threshold

    def as_dict(self) -> dict:
        return {"read_as": self.probabilities, "matches_a_degradation": self.matches,
                "closest_prompt": self.closest_prompt, "similarity": round(self.similarity, 4),
                "unrelated_words_similarity": round(self.threshold, 4)}


def _prompt_reference(encoder) -> tuple[torch.Tensor, list[str], float]:
    """Unit frozen-text embeddings of every class prompt, the prompts, and the best similarity any
    of :data:`UNRELATED` reaches (computed once per encoder)."""
    with _reference_lock:
        if encoder not in _reference:
            prompts = [p for label in CANONICAL for p in encoder.prompts(label)]
            with torch.no_grad():
                rows = F.normalize(encoder.encode_text_raw(prompts).float(), dim=-1)
                unrelated = F.normalize(encoder.encode_text_raw(list(UNRELATED)).float(), dim=-1)
            _reference[encoder] = rows, prompts, float((unrelated @ rows.t()).max())
        return _reference[encoder]


def read_words(encoder, text: str) -> WordsReading:
    """How ``encoder`` reads ``text``: the class probabilities of its adapted embedding (as a photo
    is scored), and, in the frozen text space, its closest class prompt. Words no closer to any
    prompt than unrelated words are (:data:`UNRELATED`) name no degradation: the network is still
    steered by them, but by chance."""
    rows, prompts, threshold = _prompt_reference(encoder)
    with torch.no_grad():
        raw = encoder.encode_text_raw([text])
        probabilities = encoder.probabilities(encoder.text_adapter(raw.to(encoder.class_embeddings.device)))[0]
        similarity = F.normalize(raw.float(), dim=-1) @ rows.t()
    best = int(similarity[0].argmax())
    return WordsReading({n: float(p) for n, p in zip(encoder.labels, probabilities.tolist())},
                        prompts[best], float(similarity[0, best]), threshold)


def words_note(reading: WordsReading | None) -> str:
    """Markdown: "Your words read as: **Haze 71 %**, Rain 12 %, ..." and a warning when they name no degradation."""
    if reading is None:
        return ""
    ranked = sorted(reading.probabilities.items(), key=lambda kv: -kv[1])
    shown = [f"{plots.DISPLAY.get(n, n)} {plots.percent(p)}" for n, p in ranked if p >= 0.01][:4] or \
        [f"{plots.DISPLAY.get(ranked[0][0], ranked[0][0])} {plots.percent(ranked[0][1])}"]
    line = f"**Your words read as:** **{shown[0]}**" + "".join(f", {s}" for s in shown[1:]) + "."
    if not reading.matches:
        line += (f"\n\n⚠️ **These words match no degradation**: they are no closer to any of the encoder's "
                 f"degradation prompts (nearest: “{reading.closest_prompt}”) than unrelated words are. The network "
                 "was steered by them anyway, by chance; describe the defect (“remove the fog”, “too dark”, "
                 "“rain streaks”) or pick a type.")
    return line


def detection_belief(probabilities: dict[str, float]) -> tuple[bool, str]:
    """(unsure, one line): the detector is unsure when its top class has less than :data:`UNSURE_BELOW`."""
    if not probabilities:
        return True, "no degradation encoder: nothing was detected"
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    (top, p), (second, q) = ranked[0], ranked[1]
    name, other = plots.DISPLAY.get(top, top), plots.DISPLAY.get(second, second)
    if p < UNSURE_BELOW:
        return True, f"unsure: {name} {plots.percent(p)} or {other} {plots.percent(q)}"
    return False, f"{name} {plots.percent(p)}"


def contact_sheet(restorer, image: Image.Image, job=None) -> list[tuple[Image.Image, str]]:
    """The photo (long side at most :data:`CONTACT_SIDE`) restored under auto-detection, uniform
    retrieval and every class's guidance: (image, caption) pairs, the downscaled input first. With
    one-by-one specialists (and an encoder to choose one) the auto-detected restore in the one-by-one
    mode follows the all-in-one one, its caption naming the network that ran. Each is one pass of
    the network (no self-ensemble): the sheet compares steerings.
    ``job``: checked between restores and at every stage (:func:`app.jobs.cancel_points`)."""
    from .jobs import cancel_points, networks_of

    small = image.copy()
    small.thumbnail((CONTACT_SIDE, CONTACT_SIDE), Image.Resampling.LANCZOS)
    if restorer.encoder is None:
        steering = [("uniform", ALL_IN_ONE, "Uniform")]
    else:
        auto = [("auto", ALL_IN_ONE, "Auto-detected")]
        if getattr(restorer, "specialists", None):
            auto = [("auto", ALL_IN_ONE, "Auto-detected, all-in-one"), ("auto", ONE_BY_ONE, "One-by-one")]
        steering = [*auto, ("uniform", ALL_IN_ONE, "Uniform (no d_I)")] + \
            [(name, ALL_IN_ONE, plots.DISPLAY[name]) for name in CANONICAL]
    sheet = [(small.convert("RGB"), "Input")]
    with cancel_points(networks_of(restorer), job):
        for value, mode, caption in steering:
            if job is not None:
                job.check()
            result = restorer.restore(small, degradation=value, tile=0, mode=mode, ensemble="none")
            if mode != ALL_IN_ONE:
                caption += f": {_one_by_one_caption(result.network, result.degradation)}"
            elif value == "auto" and result.degradation:
                top = max(result.degradation, key=result.degradation.get)
                caption += f" ({plots.DISPLAY.get(top, top)})"
            sheet.append((result.image.convert("RGB"), caption))
    return sheet


def _one_by_one_caption(network: str, probabilities: dict[str, float]) -> str:
    """"noise specialist", or "all-in-one (no haze specialist)" for a type without one."""
    if network != ALL_IN_ONE:
        return network
    return f"all-in-one ({fallback_reason(probabilities)})"
