"""Accuracy of the degradation encoder before and after fine-tuning, and the atlas table.

    python -m training.evaluate_encoder [weights=offline] [key=value ...]

On held-out (val) photos degraded by core.degradations, it measures 7-class and 5-coarse-type
accuracy with confusion matrices:
* before fine-tuning: a linear probe (multinomial logistic regression on standardised raw
  features, fitted on the train photos) for every backbone, plus zero-shot nearest prompt
  for CLIP (the offline towers are not aligned, so there it is undefined);
* after fine-tuning: nearest class prompt of the adapted embedding (`probabilities`).
It writes `<name>-eval.json` and the atlas table `<name>-atlas.parquet` (image rows: id,
degradation, split, raw vector, adapted vector, prediction; prompt rows: the prompt texts'
embeddings) next to the weights, for the app's UMAP. Any backbone: `weights=clip`.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.preprocessing import StandardScaler

from core.encoder import COARSE_LABELS, DegradationEncoder, HELDOUT_PARAPHRASES, LABELS, TRAIN_PARAPHRASES
from core.encoder.prompts import AUTHORS_PROMPTS, class_prompts, coarse_of
from core.encoder.registry import resolve_encoder
from training.encoder_config import EncoderData, run_command
from training.encoder_features import list_photos
from training.train_encoder import build_data

COARSE_INDEX = np.array([COARSE_LABELS.index(coarse_of(label)) for label in LABELS])


@dataclass(frozen=True)
class EvalEncoderConfig(EncoderData):
    """What to evaluate and where the atlas goes (the data keys of :class:`EncoderData`, as in training)."""

    weights: str = "offline"
    atlas_val_per_class: int = 2
    atlas_train_every: int = 2
    out_dir: str = ""


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    """7-class and coarse accuracy with confusion matrices (rows: truth, columns: prediction)."""
    return {"accuracy_7": round(float(np.mean(pred == truth)), 4),
            "accuracy_coarse": round(float(np.mean(COARSE_INDEX[pred] == COARSE_INDEX[truth])), 4),
            "confusion_7": confusion_matrix(truth, pred, labels=range(len(LABELS))).tolist(),
            "confusion_coarse": confusion_matrix(COARSE_INDEX[truth], COARSE_INDEX[pred],
                                                 labels=range(len(COARSE_LABELS))).tolist()}


def linear_probe(train: dict, val: dict) -> np.ndarray:
    """Predictions of a logistic regression fitted on raw train features."""
    scaler = StandardScaler().fit(train["features"].numpy())
    clf = LogisticRegression(max_iter=3000, C=0.5).fit(scaler.transform(train["features"].numpy()), train["labels"].numpy())
    return clf.predict(scaler.transform(val["features"].numpy()))


@torch.no_grad()
def zero_shot(encoder: DegradationEncoder, val: dict) -> np.ndarray | None:
    """Nearest raw class prompt (CLIP only: the towers share a space)."""
    if encoder.config.backbone != "clip":
        return None
    text = torch.stack([F.normalize(encoder.encode_text_raw(list(class_prompts(l))), dim=-1).mean(0) for l in LABELS])
    return (F.normalize(val["features"], dim=-1) @ F.normalize(text, dim=-1).t()).argmax(-1).numpy()


@torch.no_grad()
def language_test(encoder: DegradationEncoder) -> dict:
    """Share of held-out paraphrases whose nearest class (coarse type) is theirs."""
    rows = [(text, label) for label, texts in HELDOUT_PARAPHRASES.items() for text in texts]
    pred = encoder.logits(encoder.encode_text([t for t, _ in rows])).argmax(-1).tolist()
    hits = [coarse_of(LABELS[p]) == coarse_of(label) for p, (_, label) in zip(pred, rows)]
    return {"accuracy": round(float(np.mean(hits)), 4),
            "queries": {t: LABELS[p] for p, (t, _) in zip(pred, rows)}}


def atlas(encoder: DegradationEncoder, cfg: EvalEncoderConfig, data: dict[str, dict], names: dict[str, list[str]]) -> pd.DataFrame:
    """Image rows (a subset of train and all-or-some val crops) and prompt rows."""
    rows = []
    for split, data_split in data.items():
        keep, seen = [], Counter()
        for i, key in enumerate(zip(data_split["photos"].tolist(), data_split["labels"].tolist())):
            limit = cfg.atlas_val_per_class if split == "val" else int(key[0] % cfg.atlas_train_every == 0)
            if seen[key] < limit:
                seen[key] += 1
                keep.append(i)
        raw = data_split["features"][keep]
        adapted = encoder.adapt_image(raw)
        prob = encoder.probabilities(adapted)
        for n, i in enumerate(keep):
            photo, label = names[split][int(data_split["photos"][i])], LABELS[int(data_split["labels"][i])]
            rows.append({"id": f"{split}/{photo}/{label}/{i}", "kind": "image", "degradation": label,
                         "coarse": coarse_of(label), "split": split, "text": "",
                         "predicted": LABELS[int(prob[n].argmax())], "confidence": round(float(prob[n].max()), 4),
                         "raw": raw[n].half().tolist(), "adapted": adapted[n].half().tolist()})
    prompt_sets = {"authors_prompt": {l: (AUTHORS_PROMPTS[l],) for l in LABELS}, "train_prompt": TRAIN_PARAPHRASES,
                   "heldout_prompt": HELDOUT_PARAPHRASES}
    for split, sets in prompt_sets.items():
        for label, texts in sets.items():
            raw = encoder.encode_text_raw(list(texts))
            adapted = encoder.text_adapter(raw)
            for text, r, a in zip(texts, raw, adapted):
                rows.append({"id": f"{split}/{text}", "kind": "prompt", "degradation": label, "coarse": coarse_of(label),
                             "split": split, "text": text, "predicted": "", "confidence": float("nan"),
                             "raw": r.half().tolist(), "adapted": a.half().tolist()})
    return pd.DataFrame(rows)


@torch.no_grad()
def calibration(encoder: DegradationEncoder, train: dict, val: dict) -> dict:
    """ECE of the held-out probabilities as the encoder gives them, and with the logit scale that
    calibrates the train crops (:mod:`training.calibration`; cosine scoring only)."""
    from training.calibration import expected_calibration_error, fit_scale

    report = {"ece": round(expected_calibration_error(
        encoder.probabilities(encoder.adapt_image(val["features"])).numpy(), val["labels"].numpy()), 4),
        "logit_scale": encoder.config.logit_scale}
    if encoder.config.scoring == "cosine":
        cosines = {split: encoder.logits(encoder.adapt_image(d["features"])) / encoder.config.logit_scale
                   for split, d in (("train", train), ("val", val))}
        with torch.enable_grad():
            scale = fit_scale(cosines["train"], train["labels"], encoder.config.logit_scale)
        report.update(fitted_logit_scale=round(scale, 3), ece_fitted=round(expected_calibration_error(
            (scale * cosines["val"]).softmax(-1).numpy(), val["labels"].numpy()), 4))
    return report


def evaluate(cfg: EvalEncoderConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    path = resolve_encoder(cfg.weights)
    encoder = DegradationEncoder.from_pretrained(path)
    data = {split: build_data(encoder, cfg, split, n)
            for split, n in (("train", cfg.crops_per_class), ("val", cfg.val_crops_per_class))}
    names = {split: [p.stem for p in list_photos(cfg.photos, split)] for split in data}
    val, truth = data["val"], data["val"]["labels"].numpy()
    with torch.no_grad():
        after = encoder.probabilities(encoder.adapt_image(val["features"])).argmax(-1).numpy()
        report = {"weights": str(path), "backbone": encoder.config.backbone, "val_photos": len(names["val"]),
                  "val_samples": int(len(truth)), "labels": list(LABELS), "coarse_labels": list(COARSE_LABELS),
                  "before_linear_probe": scores(linear_probe(data["train"], val), truth),
                  "after_fine_tuning": scores(after, truth), "language_test": language_test(encoder)}
        report["calibration"] = calibration(encoder, data["train"], val)
        shot = zero_shot(encoder, val)
        if shot is not None:
            report["before_zero_shot"] = scores(shot, truth)
        table = atlas(encoder, cfg, data, names)
    out_dir = Path(cfg.out_dir) if cfg.out_dir else path.parent
    stem = path.name.replace("-adapters.safetensors", "").replace(".safetensors", "")
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out_dir / f"{stem}-atlas.parquet", index=False, compression="zstd")
    (out_dir / f"{stem}-eval.json").write_text(json.dumps(report, indent=1))
    for key in ("before_zero_shot", "before_linear_probe", "after_fine_tuning"):
        if key in report:
            print(f"{key:22s} 7 classes {report[key]['accuracy_7']:.3f}  coarse {report[key]['accuracy_coarse']:.3f}")
    print(f"language test (held-out paraphrases): {report['language_test']['accuracy']:.3f}")
    print(f"calibration (held-out): {report['calibration']}")
    print(f"wrote {out_dir / f'{stem}-eval.json'} and {out_dir / f'{stem}-atlas.parquet'} ({len(table)} rows)")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_command(EvalEncoderConfig, evaluate, argv, __doc__, "python -m training.evaluate_encoder")


if __name__ == "__main__":
    sys.exit(main())
