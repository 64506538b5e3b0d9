"""Image input/output: any PIL-readable image, array or tensor <-> 3 x H x W float tensors.

Reading honours the EXIF orientation and accepts every PIL mode (1, L, LA, P, RGB, RGBA,
CMYK, I;16, I, F, ...). Colour is restored in RGB; what the output should look like is kept
in :class:`ImageMeta` (grayscale inputs come back grayscale, alpha is carried over untouched).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS_DEFAULT = 80_000_000  # a 80-megapixel cap; decompression bombs are refused earlier by PIL


class ImageReadError(ValueError):
    """The input is not an image this project can read."""


@dataclass(frozen=True)
class ImageMeta:
    """How to turn the restored RGB tensor back into an image like the input."""

    size: tuple[int, int]            # (width, height) after EXIF orientation
    grayscale: bool
    alpha: Image.Image | None = None  # the input's alpha channel, re-attached to the output


def _open(src) -> Image.Image:
    if isinstance(src, Image.Image):
        return src
    name = "image"
    try:
        if isinstance(src, (bytes, bytearray)):
            img = Image.open(io.BytesIO(src))
        else:
            path = Path(os.fspath(src))
            name = str(path)
            if not path.is_file():
                raise FileNotFoundError(f"no image file at {path}")
            img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{name}: refused, too many pixels ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None


def _to_rgb(img: Image.Image) -> tuple[np.ndarray, ImageMeta]:
    """H x W x 3 float32 in [0, 1] and the metadata to rebuild the output."""
    img = ImageOps.exif_transpose(img) or img
    mode = img.mode
    alpha = None
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA"):
        alpha = img.getchannel("A")
    grayscale = mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float32)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if mode == "F":
            top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        gray = np.clip(arr / top, 0.0, 1.0)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return rgb, ImageMeta(size=img.size, grayscale=grayscale, alpha=alpha)


def _array_to_rgb(arr: np.ndarray) -> tuple[np.ndarray, ImageMeta]:
    """H x W, H x W x {1,3,4} arrays; uint8/uint16 scaled, floats taken as [0, 1]."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageReadError(f"expected an H x W, H x W x 1, 3 or 4 array, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        scale = 65535.0 if arr.dtype in (np.uint16, np.int32, np.int64) and arr.max(initial=0) > 255 else 255.0
        arr = arr.astype(np.float32) / scale
    arr = np.clip(arr.astype(np.float32), 0.0, 1.0)
    alpha = None
    if arr.shape[2] == 4:
        alpha = Image.fromarray((arr[..., 3] * 255.0 + 0.5).astype(np.uint8), "L")
        arr = arr[..., :3]
    gray = arr.shape[2] == 1
    rgb = np.repeat(arr, 3, axis=2) if gray else arr
    return rgb, ImageMeta(size=(rgb.shape[1], rgb.shape[0]), grayscale=gray, alpha=alpha)


def read_image(src, max_pixels: int = MAX_PIXELS_DEFAULT) -> tuple[torch.Tensor, ImageMeta]:
    """Read ``src`` into a 3 x H x W float tensor in [0, 1] (RGB) and its :class:`ImageMeta`.

    ``src``: a path, bytes, a PIL image, a numpy array (H x W [x C]) or a tensor
    (3 x H x W, 1 x 3 x H x W, or H x W, float in [0, 1]).
    """
    if isinstance(src, torch.Tensor):
        t = src.detach().float().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ImageReadError(f"expected a 3 x H x W image tensor, got shape {tuple(src.shape)}")
        rgb, meta = _array_to_rgb(t.permute(1, 2, 0).numpy())
    elif isinstance(src, np.ndarray):
        rgb, meta = _array_to_rgb(src)
    else:
        rgb, meta = _to_rgb(_open(src))
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        raise ImageReadError(f"the image is empty ({w} x {h} pixels)")
    if h * w > max_pixels:
        raise ImageReadError(f"the image has {w} x {h} = {w * h:,} pixels, more than the limit of {max_pixels:,}")
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).contiguous(), meta


def to_pil(rgb: torch.Tensor, meta: ImageMeta | None = None) -> Image.Image:
    """3 x H x W tensor in [0, 1] -> PIL image shaped like the input described by ``meta``."""
    arr = (rgb.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if meta is not None and meta.grayscale:
        img = img.convert("L")
    if meta is not None and meta.alpha is not None and meta.alpha.size == img.size:
        img.putalpha(meta.alpha)
    return img
