"""From the degradation encoder to the vector ``d_I`` that steers every D-GDM (Sec. 3.2).

The network receives the encoder's adapted embedding L2-normalised: the contrastive
fine-tuning aligns image and text embeddings by cosine similarity, so only the direction
carries meaning, and normalising makes a text embedding (language steering) a valid
stand-in for an image embedding. Training and inference both go through
:func:`degradation_vector`, so the convention cannot drift between them.

``degradation`` arguments accepted by :func:`resolve_guidance`:

* ``None`` or ``"auto"``: the image's own embedding (blind all-in-one restoration);
* ``"uniform"``: no degradation vector, uniform retrieval weights in every stage;
* a canonical name (``"rain"``, ``"noise_25"``, ...): that class's prompt embedding;
* any other text (``"remove the fog"``): its text embedding (language steering).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def degradation_vector(embedding: torch.Tensor) -> torch.Tensor:
    """B x D encoder embedding -> B x D unit-norm degradation vector d_I."""
    return F.normalize(embedding.float(), dim=-1)


@dataclass
class Guidance:
    """The steering decided for one image."""

    d: torch.Tensor | None          # 1 x D degradation vector, None for uniform retrieval
    probabilities: dict[str, float]  # detected degradation: canonical name -> probability
    source: str                      # "auto", "uniform", "class:<name>" or "text:<query>"


def resolve_guidance(encoder, image: torch.Tensor, degradation: str | None) -> Guidance:
    """Decide d_I for ``image`` (1 x 3 x H x W in [0, 1]) given the user's ``degradation``.

    ``encoder`` is a :class:`core.encoder.DegradationEncoder` or None (then only ``None`` /
    ``"uniform"`` are possible and nothing is detected).
    """
    choice = (degradation or "auto").strip()
    if encoder is None:
        if choice.lower() not in ("auto", "uniform"):
            raise ValueError(f"degradation {degradation!r} needs a degradation encoder, and none is loaded")
        return Guidance(d=None, probabilities={}, source="uniform")
    with torch.no_grad():
        embedding = encoder.encode_image(image)
        probs = encoder.probabilities(embedding)[0].tolist()
    detected = dict(zip(encoder.labels, (float(p) for p in probs)))
    key = choice.lower()
    if key == "auto":
        return Guidance(degradation_vector(embedding), detected, "auto")
    if key == "uniform":
        return Guidance(None, detected, "uniform")
    with torch.no_grad():
        if key in encoder.labels:
            # the class's prompt embedding (ready: probabilities() above computed them)
            text = encoder.class_embeddings[list(encoder.labels).index(key)][None]
            return Guidance(degradation_vector(text), detected, f"class:{key}")
        return Guidance(degradation_vector(encoder.encode_text([choice])), detected, f"text:{choice}")
