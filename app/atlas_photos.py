"""An atlas table for an encoder that ships none (the authors' CLIP and adapters): the photos that
scikit-image bundles, cropped and degraded by this project's synthesis, embedded by the encoder.

Same columns as the table ``training/evaluate_encoder.py`` writes (:data:`app.atlas.COLUMNS`),
so :class:`app.atlas.Atlas` draws it as it draws the shipped one: image rows with the frozen
backbone's embedding (``raw``: CLIP before fine-tuning) and the adapted one (d_I after), and one
prompt row per class prompt of the encoder (the authors' seven for theirs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.degradations import CANONICAL, degrade

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png")


def bundled_photos() -> list[tuple[str, torch.Tensor]]:
    """(name, 1 x 3 x H x W in [0, 1]) of the colour photos inside the scikit-image package."""
    import skimage
    from PIL import Image

    folder = Path(skimage.__file__).parent / "data"
    photos = []
    for file in PHOTOS:
        rgb = np.asarray(Image.open(folder / file).convert("RGB"), dtype=np.float32) / 255
        photos.append((Path(file).stem, torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None]))
    return photos


def image_row(encoder, image: torch.Tensor, row_id: str, label: str, split: str) -> dict:
    """One image row of an atlas table: ``image`` (1 x 3 x H x W in [0, 1]) embedded by ``encoder``."""
    with torch.no_grad():
        raw = encoder.encode_image_raw(image.clamp(0, 1))
        adapted = encoder.adapt_image(raw)
        probs = encoder.probabilities(adapted)[0]
    return {"id": row_id, "kind": "image", "degradation": label, "coarse": label.split("_")[0], "split": split,
            "text": "", "predicted": CANONICAL[int(probs.argmax())], "confidence": float(probs.max()),
            "raw": raw[0].half().tolist(), "adapted": adapted[0].half().tolist()}


def prompt_row(encoder, text: str, label: str, split: str = "prompt") -> dict:
    """One prompt row of an atlas table: ``text``'s frozen and adapted text embeddings."""
    with torch.no_grad():
        raw = encoder.encode_text_raw([text])
        adapted = encoder.text_adapter(raw)
    return {"id": f"{split}/{text}", "kind": "prompt", "degradation": label, "coarse": label.split("_")[0],
            "split": split, "text": text, "predicted": "", "confidence": float("nan"),
            "raw": raw[0].half().tolist(), "adapted": adapted[0].half().tolist()}


def write_table(rows: list[dict], path: str | Path) -> Path:
    """Write atlas ``rows`` to the parquet file ``path`` (through a temporary file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.parquet")
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


@torch.no_grad()
def photo_atlas_table(encoder, path: str | Path, crops_per_photo: int = 3, crop: int = 192, seed: int = 0) -> Path:
    """Write the atlas parquet of ``encoder`` to ``path``: every bundled photo, ``crops_per_photo``
    seeded crops of ``crop`` pixels, each degraded by every class; returns ``path``."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for name, photo in bundled_photos():
        h, w = photo.shape[-2:]
        for k in range(crops_per_photo):
            top, left = (int(torch.randint(0, s - crop + 1, (1,), generator=g)) for s in (h, w))
            clean = photo[..., top:top + crop, left:left + crop]
            for label in CANONICAL:
                image, _ = degrade(clean, label, g)
                rows.append(image_row(encoder, image, f"val/{name}#{k}/{label}", label, "val"))
    rows += [prompt_row(encoder, text, label) for label in CANONICAL for text in encoder.prompts(label)]
    return write_table(rows, path)


class AtlasBook:
    """The atlas of each model: the shipped encoder's table for our models; for the authors' release a
    table made on first use from the bundled photos with their CLIP and adapters (then cached)."""

    def __init__(self, holder, default_atlas, cache_dir: str | Path):
        self.holder = holder
        self.default_atlas = default_atlas
        self.cache_dir = Path(cache_dir)
        self._atlases: dict[str, object] = {}
        import threading
        self._lock = threading.Lock()

    def atlas(self, model: str | None = None):
        """The :class:`app.atlas.Atlas` to draw for ``model`` (None: the default model)."""
        from core.official import is_release

        from .atlas import Atlas

        model = model or self.holder.default
        if not is_release(model):
            return self.default_atlas
        with self._lock:
            if model not in self._atlases:
                import hashlib
                source = Path(model)
                stamp = f"{source.resolve()}|{source.stat().st_mtime_ns}|{source.stat().st_size if source.is_file() else 0}"
                table = self.cache_dir / f"authors-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}-atlas.parquet"
                if not table.is_file():
                    photo_atlas_table(self.holder.get(model).encoder, table)
                self._atlases[model] = Atlas(table, self.cache_dir, reducer=getattr(self.default_atlas, "reducer", None))
            return self._atlases[model]
