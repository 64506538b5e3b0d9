"""Image input/output: any PIL-readable image, array or tensor <-> 3 x H x W float tensors.

Reading honours the EXIF orientation and accepts every PIL mode (1, L, LA, P, RGB, RGBA,
CMYK, I;16, I, F, ...). Colour is restored in RGB; what the output should look like is kept
in :class:`ImageMeta` (grayscale inputs come back grayscale, alpha is carried over untouched).
Of an animated file (GIF, APNG, WebP) the first frame is read. :func:`probe_image` reads only
the header, so oversized files and decompression bombs are refused before any pixel is decoded.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS_DEFAULT = 80_000_000  # a 80-megapixel cap; decompression bombs are refused earlier by PIL


class ImageReadError(ValueError):
    """The input is not an image this project can read. ``reason`` is the message without the
    file's name (for messages shown to someone who did not choose the path)."""

    def __init__(self, reason: str, source: str | None = None):
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason = reason


class ImageTooLargeError(ImageReadError):
    """The image has more pixels than allowed. ``width``/``height`` are None when PIL refused the
    header as a decompression bomb (more than twice ``Image.MAX_IMAGE_PIXELS``) before giving a size."""

    def __init__(self, width: int | None, height: int | None, limit: int, source: str | None = None):
        if width is None or height is None:
            reason = (f"refused without decoding: the header claims more than "
                      f"{2 * Image.MAX_IMAGE_PIXELS:,} pixels (a decompression bomb)")
        else:
            reason = f"the image has {width} x {height} = {width * height:,} pixels, more than the limit of {limit:,}"
        super().__init__(reason, source)
        self.width, self.height, self.limit = width, height, limit


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, read without decoding a pixel.

    size: (width, height) as stored, before any EXIF orientation (a rotation keeps the pixel
    count and the aspect ratio); animated: the file has more than one frame (only the first is read).
    """

    size: tuple[int, int]
    format: str | None
    mode: str
    animated: bool = False


@dataclass(frozen=True)
class ImageMeta:
    """How to turn the restored RGB tensor back into an image like the input."""

    size: tuple[int, int]            # (width, height) after EXIF orientation
    grayscale: bool
    alpha: Image.Image | None = None  # the input's alpha channel, re-attached to the output


def _lazy_open(src) -> tuple[Image.Image, str | None]:
    """PIL's lazy open (header only) of a path or bytes, and the name to put in messages."""
    if isinstance(src, (bytes, bytearray)):
        name, file = None, io.BytesIO(src)
    else:
        path = Path(os.fspath(src))
        name, file = str(path), path
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
    try:
        with warnings.catch_warnings():  # between 1x and 2x MAX_IMAGE_PIXELS PIL only warns; callers cap pixels
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(file), name
    except Image.DecompressionBombError:
        raise ImageTooLargeError(None, None, 2 * Image.MAX_IMAGE_PIXELS, name) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"not a readable image ({type(exc).__name__}: {exc})", name) from None


def probe_image(src, max_pixels: int = MAX_PIXELS_DEFAULT) -> ImageInfo:
    """Size, format, mode and animation of the image at ``src`` (path or bytes) from its header only.

    Raises ImageReadError for what is not an image, ImageTooLargeError above ``max_pixels``
    (decompression bombs included), FileNotFoundError for a missing path. Cheap whatever the
    header claims: no pixel is decoded (an animated GIF's frames are skipped, not decoded).
    """
    img, name = _lazy_open(src)
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise ImageTooLargeError(width, height, max_pixels, name)
        try:
            animated = bool(getattr(img, "is_animated", False))
        except (OSError, ValueError, EOFError, SyntaxError):
            animated = False  # a broken later frame: the first one may still be readable
        return ImageInfo(size=(width, height), format=img.format, mode=img.mode, animated=animated)


def open_image(src, max_pixels: int | None = None) -> Image.Image:
    """Decode the image at ``src`` (path, bytes or PIL image; the first frame of an animation).

    With ``max_pixels`` the header's size is checked before decoding (ImageTooLargeError).
    Raises ImageReadError (one line) for a file that is not an image or whose data is damaged or
    truncated, FileNotFoundError for a missing path. The file is closed on return.
    """
    if isinstance(src, Image.Image):
        return src
    img, name = _lazy_open(src)
    try:
        if max_pixels is not None and img.size[0] * img.size[1] > max_pixels:
            raise ImageTooLargeError(*img.size, max_pixels, name)
        img.load()
        if getattr(img, "fp", None) is not None:  # multi-frame files keep their file open for seeking
            first = img.copy()
            img.close()
            img = first
    except ImageReadError:
        img.close()
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        img.close()
        raise ImageReadError(f"damaged or truncated image data ({type(exc).__name__}: {exc})", name) from None
    return img


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
        rgb, meta = _to_rgb(open_image(src, max_pixels))
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        raise ImageReadError(f"the image is empty ({w} x {h} pixels)")
    if h * w > max_pixels:
        raise ImageTooLargeError(w, h, max_pixels)
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
