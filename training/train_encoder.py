"""Contrastive fine-tuning of the degradation encoder's adapters (paper Sec. 3.3).

    python -m training.train_encoder --config training/configs/encoder_offline.yaml [key=value ...]

Degraded crops of clean photos (core.degradations) are paired with a text naming their
degradation (the authors' prompt or a paraphrase, drawn anew at every step). The frozen
backbone's features are cached once (training.encoder_features); only the two adapters train,
with AdamW and the paper's loss, InfoNCE over tau * cosine similarity between the adapted image
and the adapted texts of the batch (one text per class, so each image has exactly one positive):

    L = -1/B sum_i log( exp(tau cos(E_I(y_i), E_T(t_i))) / sum_j exp(tau cos(E_I(y_i), E_T(t_j))) )

`loss=dot` is the authors' variant (raw dot products, no normalisation or temperature).

Continuing shipped adapters (`init_from`): every network was trained on the d_I of those
adapters, so `anchor_weight` adds `w * mean(1 - cos(E_I(y), E_I_init(y)))` (the init's embedding
of the same cached crop) to keep d_I where the networks expect it, and `freeze_text` keeps the
text adapter and so the class vectors (prompt steering) as they were.

Every epoch writes `<run_dir>/last.pt` (adapters + optimiser; `resume=true` continues from it);
the end writes the adapters with their config to `out` (safetensors).
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.encoder import DegradationEncoder, EncoderConfig
from core.encoder.prompts import LABELS, class_prompts
from training.encoder_config import EncoderData, run_command
from training.data.photos import package_of
from training.encoder_features import CropSpec, cached_features, list_photos
from training.losses import contrastive_loss


@dataclass(frozen=True)
class TrainEncoderConfig(EncoderData):
    """Fine-tuning recipe: the data keys of :class:`EncoderData`; `encoder` holds the `EncoderConfig` keys."""

    encoder: dict[str, Any] = field(default_factory=dict)
    loss: str = "info_nce"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    run_dir: str = "runs/encoder"
    out: str = "assets/encoder/offline-adapters.safetensors"
    resume: bool = False
    init_from: str = ""                  # adapters to start from (name or file); "" = fresh
    anchor_weight: float = 0.0           # weight of the d_I anchor to the init_from adapters
    freeze_text: bool = False            # keep the text adapter (class vectors) fixed

    def __post_init__(self) -> None:
        if self.loss not in ("info_nce", "dot"):
            raise ValueError(f"loss must be 'info_nce' (paper) or 'dot' (authors' code), got {self.loss!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if (self.anchor_weight or self.freeze_text) and not self.init_from:
            raise ValueError("anchor_weight and freeze_text need init_from (the adapters to keep close to)")
        if self.anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {self.anchor_weight}")


def start_encoder(cfg: TrainEncoderConfig) -> DegradationEncoder:
    """A fresh encoder from ``cfg.encoder``, or the ``init_from`` adapters (their config wins;
    ``cfg.encoder`` must then be empty or agree)."""
    if not cfg.init_from:
        return DegradationEncoder(EncoderConfig.from_dict(cfg.encoder))
    encoder = DegradationEncoder.from_pretrained(cfg.init_from)
    if cfg.encoder and EncoderConfig.from_dict({**asdict(encoder.config), **cfg.encoder}) != encoder.config:
        raise ValueError(f"the encoder keys {sorted(cfg.encoder)} differ from those of init_from {cfg.init_from}")
    return encoder


@torch.no_grad()
def accuracy(encoder: DegradationEncoder, features: torch.Tensor, labels: torch.Tensor,
             text_raw: list[torch.Tensor]) -> float:
    """Share of cached raw features whose nearest class prompt (after adaptation) is right."""
    was_training = encoder.training
    encoder.eval()
    encoder.refresh_class_embeddings(text_raw)
    pred = encoder.logits(encoder.adapt_image(features)).argmax(-1)
    encoder.train(was_training)
    return float((pred == labels).float().mean())


def build_data(encoder: DegradationEncoder, cfg: EncoderData, split: str, crops: int) -> dict[str, torch.Tensor]:
    """Cached frozen features of the degraded crops of `split`."""
    paths = list_photos(cfg.photos, split)
    if cfg.packages:
        paths = [p for p in paths if package_of(p) in cfg.packages]
    if cfg.max_photos:
        paths = paths[: cfg.max_photos]
    if not paths:
        raise FileNotFoundError(f"no {split} photos of packages {list(cfg.packages)} in {cfg.photos}")
    spec = CropSpec(crops_per_class=crops, crop_sizes=tuple(cfg.crop_sizes),
                    min_short=cfg.min_short, max_short=cfg.max_short)
    seed = cfg.seed if split == "train" else cfg.seed + 1000
    return cached_features(encoder.encode_image_raw, asdict(encoder.config), paths, spec, seed,
                           Path(cfg.cache_dir), desc=f"{encoder.config.backbone}-{split}")


def train(cfg: TrainEncoderConfig) -> dict[str, Any]:
    """Run the fine-tuning; returns the figures written into the output file's metadata."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    torch.set_num_threads(cfg.threads)
    encoder = start_encoder(cfg)
    started = time.perf_counter()
    data = build_data(encoder, cfg, "train", cfg.crops_per_class)
    val = build_data(encoder, cfg, "val", cfg.val_crops_per_class)
    prompts = [list(class_prompts(label)) for label in LABELS]
    text_raw = [encoder.encode_text_raw(p) for p in prompts]  # C tensors of P_c x text_dim
    cache_s = time.perf_counter() - started
    with torch.no_grad():  # the init's d_I of every training crop, the anchor's targets
        anchors = F.normalize(encoder.adapt_image(data["features"]), dim=-1) if cfg.anchor_weight else None

    frozen = ("backbone.", "text_adapter.") if cfg.freeze_text else ("backbone.",)
    for name, p in encoder.named_parameters():
        p.requires_grad_(not name.startswith(frozen))
    params = [p for p in encoder.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(data["labels"]) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    run_dir, start_epoch = Path(cfg.run_dir), 0
    last = run_dir / "last.pt"
    if cfg.resume and last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=True)
        encoder.load_adapter_state(state["adapters"], source=str(last))
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"])
        print(f"resumed from {last} at epoch {start_epoch}")

    encoder.train()
    generator = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(range(start_epoch, cfg.epochs), desc="epochs", unit="epoch", initial=start_epoch, total=cfg.epochs)
    val_acc, history = accuracy(encoder, val["features"], val["labels"], text_raw), []
    for epoch in bar:
        order = torch.randperm(len(data["labels"]), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            texts = torch.stack([t[rng.randrange(len(t))] for t in text_raw])  # one prompt per class
            image = encoder.adapt_image(data["features"][idx])
            loss = contrastive_loss(image, encoder.text_adapter(texts), data["labels"][idx], cfg.loss,
                                    encoder.config.logit_scale)
            if anchors is not None:
                loss = loss + cfg.anchor_weight * (1 - (F.normalize(image, dim=-1) * anchors[idx]).sum(-1)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        val_acc = accuracy(encoder, val["features"], val["labels"], text_raw)
        history.append(round(total / steps_per_epoch, 4))
        bar.set_postfix(loss=f"{total / steps_per_epoch:.3f}", val_acc=f"{val_acc:.3f}")
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"adapters": encoder.adapter_state(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "epoch": epoch + 1}, last)
    encoder.eval()
    encoder.refresh_class_embeddings(text_raw)
    figures = {"recipe": asdict(cfg), "train_samples": int(len(data["labels"])),
               "val_samples": int(len(val["labels"])), "val_accuracy_7": round(val_acc, 4), "loss_history": history,
               "cache_seconds": round(cache_s, 1), "total_seconds": round(time.perf_counter() - started, 1)}
    path = encoder.save(cfg.out, training=figures)
    print(f"wrote {path}: val accuracy (7 classes) {val_acc:.3f}, {figures['total_seconds']} s")
    return figures


def main(argv: list[str] | None = None) -> int:
    return run_command(TrainEncoderConfig, train, argv, __doc__, "python -m training.train_encoder")


if __name__ == "__main__":
    sys.exit(main())
