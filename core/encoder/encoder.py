"""`DegradationEncoder`: frozen vision-language backbone + trainable adapters (paper Sec. 3.3).

The adapted image embedding d_I (B x 512) is what steers every D-GDM stage of the network
(paper Eq. for the key retrieval, `softmax(Linear(d_I))`). Classification compares d_I with
the class vectors t_c (one per label, in the canonical order `LABELS`) as the config's `scoring`
says: this project's encoders by cosine similarity scaled by the temperature tau,
`p = softmax(tau * cos(d_I, t_c))` (the paper's formula); the authors' adapters by raw dot
products, `p = softmax(d_I . t_c)` (their notebook's training objective).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .adapters import Adapter
from .backbones import Backbone, build_backbone
from .config import EncoderConfig
from .errors import EncoderWeightsError
from .io import convert_authors_adapters, load_adapters, save_adapters
from .prompts import AUTHORS_PROMPTS, LABELS, class_prompts
from .registry import resolve_encoder


class DegradationEncoder(nn.Module):
    """Frozen backbone (image + text towers) with image and text adapters.

    Args:
        config: the encoder configuration (backbone, adapters, temperature).
        backbone: an already built backbone (shared between encoders); built from `config` if None.
    """

    labels: tuple[str, ...] = LABELS

    def __init__(self, config: EncoderConfig | None = None, backbone: Backbone | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        self.backbone = backbone if backbone is not None else build_backbone(self.config)
        self.image_adapter = Adapter(self.backbone.image_dim, self.config.embed_dim, self.config.activation)
        self.text_adapter = Adapter(self.backbone.text_dim, self.config.embed_dim, self.config.activation)
        self.register_buffer("class_embeddings", torch.zeros(len(LABELS), self.config.embed_dim))
        self._classes_ready = False

    # ----- images -------------------------------------------------------------------------
    def encode_image_raw(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] -> B x image_dim frozen backbone embedding (before fine-tuning)."""
        return self.backbone.encode_image(images)

    def adapt_image(self, raw: torch.Tensor) -> torch.Tensor:
        """B x image_dim raw embedding -> B x 512 adapted d_I."""
        return self.image_adapter(raw.to(self.class_embeddings.device))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1], any H, W -> B x 512 adapted degradation vector d_I."""
        return self.adapt_image(self.encode_image_raw(images))

    # ----- text ---------------------------------------------------------------------------
    def encode_text_raw(self, texts: list[str]) -> torch.Tensor:
        """List of B strings -> B x text_dim frozen text embedding."""
        return self.backbone.encode_text(texts)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """List of B strings -> B x 512 adapted text embeddings."""
        return self.text_adapter(self.encode_text_raw(texts).to(self.class_embeddings.device))

    def prompts(self, label: str) -> tuple[str, ...]:
        """The prompts whose adapted embeddings make the class vector of ``label``."""
        return (AUTHORS_PROMPTS[label],) if self.config.scoring == "dot" else class_prompts(label)

    @torch.no_grad()
    def refresh_class_embeddings(self, raw_prompts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Recompute the 7 x 512 class vectors t_c from the class prompts (:meth:`prompts`).

        "cosine" scoring: the normalised mean of the unit-norm adapted prompt embeddings; "dot":
        the adapted embedding of the authors' prompt as it is. `raw_prompts` (one P_c x text_dim
        tensor of frozen prompt embeddings per label) skips the text tower, as training does
        with its cached prompts.
        """
        if raw_prompts is None:
            raw_prompts = [self.encode_text_raw(list(self.prompts(label))) for label in LABELS]
        adapted = [self.text_adapter(r.to(self.class_embeddings.device)) for r in raw_prompts]
        if self.config.scoring == "dot":
            self.class_embeddings.copy_(torch.cat([a[:1] for a in adapted]))
        else:
            rows = [F.normalize(a, dim=-1).mean(0) for a in adapted]
            self.class_embeddings.copy_(F.normalize(torch.stack(rows), dim=-1))
        self._classes_ready = True
        return self.class_embeddings

    def class_vector(self, label: str) -> torch.Tensor:
        """The 512-d class vector t_c of ``label`` (the adapted prompt embedding that stands in
        for d_I when the user names the degradation)."""
        if label not in LABELS:
            raise KeyError(f"unknown degradation label {label!r}; expected one of {LABELS}")
        if not self._classes_ready:
            self.refresh_class_embeddings()
        return self.class_embeddings[LABELS.index(label)]

    # ----- classification -----------------------------------------------------------------
    def logits(self, d: torch.Tensor) -> torch.Tensor:
        """B x 512 adapted image embeddings -> B x 7 logits: tau * cos(d, t_c), or d . t_c ("dot")."""
        if not self._classes_ready:
            self.refresh_class_embeddings()
        if self.config.scoring == "dot":
            return d.float() @ self.class_embeddings.t()
        return self.config.logit_scale * F.normalize(d, dim=-1) @ self.class_embeddings.t()

    def probabilities(self, d: torch.Tensor) -> torch.Tensor:
        """B x 512 adapted image embeddings -> B x 7 probabilities in the order of `labels`."""
        if d.ndim != 2 or d.shape[1] != self.config.embed_dim:
            raise ValueError(f"d must be B x {self.config.embed_dim}, got {tuple(d.shape)}")
        return self.logits(d).softmax(dim=-1)

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W in [0, 1] -> B x 7 probabilities (= probabilities(encode_image(images)))."""
        return self.probabilities(self.encode_image(images))

    def freeze(self) -> "DegradationEncoder":
        """Freeze everything (backbone and adapters) and switch to eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    # ----- weights ------------------------------------------------------------------------
    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The trainable part (adapters + class embeddings), as saved on disk."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def load_adapter_state(self, state: dict[str, torch.Tensor], source: str = "state") -> None:
        """Load adapter tensors (strict: every adapter key, right shapes); class embeddings optional."""
        own = self.adapter_state()
        missing = sorted(k for k in own if k not in state and k != "class_embeddings")
        unexpected = sorted(k for k in state if k not in own)
        wrong = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
        if missing or unexpected or wrong:
            raise EncoderWeightsError(f"{source} does not fit this encoder: missing {missing[:3]}, "
                                      f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]}")
        self.load_state_dict({**own, **state}, strict=False)  # the frozen backbone keeps its own weights
        self._classes_ready = "class_embeddings" in state

    def load_authors_adapters(self, state: dict[str, torch.Tensor]) -> "DegradationEncoder":
        """Load the authors' adapter weights (Lightning state dict or adapter-only dict)."""
        self.load_adapter_state(convert_authors_adapters(state), source="authors' adapters")
        return self

    def save(self, path: str | Path, training: dict | None = None) -> Path:
        """Write the adapters, class embeddings and config to a safetensors file."""
        if not self._classes_ready:
            self.refresh_class_embeddings()
        return save_adapters(path, self.adapter_state(), self.config, LABELS, training)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, device: str | torch.device | None = None,
                        backbone: Backbone | None = None) -> "DegradationEncoder":
        """Load a registered encoder (None: the shipped offline default) or an adapter file.

        Raises EncoderAssetMissingError (naming the command that creates the file) when absent,
        EncoderWeightsError when corrupt, BackboneUnavailableError when the backbone's weights
        cannot be found.
        """
        path = resolve_encoder(name_or_path)
        config, state, metadata = load_adapters(path)
        labels = metadata.get("labels")
        if labels is not None and tuple(json.loads(labels)) != LABELS:
            raise EncoderWeightsError(f"{path} was trained for labels {labels}, expected {list(LABELS)}")
        encoder = cls(config, backbone)
        encoder.load_adapter_state(state, source=str(path))
        return encoder.to(device or "cpu").freeze()
