"""From the degradation encoder to the vector ``d_I`` that steers every D-GDM (Sec. 3.2).

Each network is fed d_I in the form it was trained with, its config's ``degradation_vector``:

* ``"unit"`` (this project's models): the adapted embedding L2-normalised. The contrastive
  fine-tuning aligns image and text embeddings by cosine similarity, so only the direction
  carries meaning, and normalising makes a text embedding (language steering) a valid
  stand-in for an image embedding.
* ``"raw"`` (the authors' models): the adapter's output as it is (its last LayerNorm, norm
  about sqrt(512)); their stages compute ``softmax(Linear(d_I))`` from it, so a unit vector
  would shrink every retrieval logit about 22x and flatten the retrieval.

Auto mode, class prompts and free text, in training and at inference, all go through
:func:`degradation_vector`, so the convention is applied in one place and cannot drift.

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


CONVENTIONS = ("unit", "raw")


def degradation_vector(embedding: torch.Tensor, convention: str = "unit") -> torch.Tensor:
    """B x D adapted embedding (image or text) -> B x D degradation vector d_I in ``convention``
    (:data:`CONVENTIONS`: ``"unit"`` L2-normalised, ``"raw"`` unchanged)."""
    if convention == "unit":
        return F.normalize(embedding.float(), dim=-1)
    if convention == "raw":
        return embedding.float()
    raise ValueError(f"degradation vector convention must be one of {CONVENTIONS}, got {convention!r}")


def network_convention(network) -> str:
    """The ``degradation_vector`` convention recorded in ``network``'s config ("unit" when it has none)."""
    return getattr(getattr(network, "config", None), "degradation_vector", "unit")


@dataclass
class Guidance:
    """The steering decided for one image."""

    d: torch.Tensor | None          # 1 x D degradation vector, None for uniform retrieval
    probabilities: dict[str, float]  # detected degradation: canonical name -> probability
    source: str                      # "auto", "uniform", "class:<name>" or "text:<query>"


def resolve_guidance(encoder, image: torch.Tensor, degradation: str | None, convention: str = "unit") -> Guidance:
    """Decide d_I for ``image`` (1 x 3 x H x W in [0, 1]) given the user's ``degradation``, in the
    steered network's ``convention`` (:func:`network_convention`).

    ``encoder`` is a :class:`core.encoder.DegradationEncoder` or None (then only ``None`` /
    ``"uniform"`` are possible and nothing is detected). A class name steers with the encoder's
    class vector (:meth:`~core.encoder.DegradationEncoder.class_vector`), free text with its
    adapted text embedding.
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
        return Guidance(degradation_vector(embedding, convention), detected, "auto")
    if key == "uniform":
        return Guidance(None, detected, "uniform")
    with torch.no_grad():
        if key in encoder.labels:
            return Guidance(degradation_vector(encoder.class_vector(key)[None], convention), detected, f"class:{key}")
        text = encoder.encode_text([choice])
        return Guidance(degradation_vector(text, convention), detected, f"text:{choice}")
