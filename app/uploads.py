"""Checking and reading what a user uploads: one-line refusals before anything is decoded.

:func:`check_upload` reads the header only (size, pixels, aspect, not an image, SVG);
:func:`load_upload` decodes after it; :func:`browser_shows_as_read` says whether the browser can
show the uploaded file itself as the "before" image. Every refusal is an :class:`UploadError`.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from core.imageio import ImageInfo, ImageReadError, ImageTooLargeError, open_image, probe_image

from .config import AppConfig

BROWSER_FORMATS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".avif")
BROWSER_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")  # 8-bit modes every browser draws as PIL reads them
EXIF_ORIENTATION = 0x0112


class UploadError(ValueError):
    """The upload is refused (size, pixels, not an image); the message says why."""


def check_upload(path: str | None, config: AppConfig) -> ImageInfo:
    """What the uploaded file's header says, or UploadError (one line) if it is absent, empty, too
    big, not an image, a decompression bomb or a strip too thin to restore. Reads the header only:
    nothing is decoded, so refusing a file that claims 60000×60000 pixels costs microseconds."""
    if not path:
        raise UploadError("no image: drop a photo on the input (or pick an example) first")
    file = Path(path)
    if not file.is_file():
        raise UploadError("the uploaded file is gone (uploads are kept for a while only); upload it again")
    size = file.stat().st_size
    if size == 0:
        raise UploadError("the file is empty (0 bytes): upload the photo again")
    if size > config.max_file_bytes:
        raise UploadError(f"the file is {size / 2**20:.1f} MB; this studio accepts up to {config.max_file_mb:g} MB")
    if _is_svg(file):
        raise UploadError("SVG is a vector drawing, not a photo: export it as PNG or JPEG to restore it")
    try:
        info = probe_image(file, max_pixels=config.max_pixels)
    except ImageTooLargeError as exc:
        raise UploadError(_too_large(exc, config)) from None
    except ImageReadError:
        raise UploadError("this file is not an image the studio can read (JPEG, PNG, WebP, GIF, BMP, TIFF); "
                          "was another kind of file renamed?") from None
    width, height = info.size
    if max(width, height) > config.max_aspect * min(width, height):
        raise UploadError(f"the image is {width}×{height} pixels, its long side {max(width, height) / min(width, height):.0f}"
                          f" times its short side; this studio restores pictures up to {config.max_aspect:g}:1: crop "
                          "it into shorter pieces")
    return info


def _is_svg(file: Path) -> bool:
    if file.suffix.lower() in (".svg", ".svgz"):
        return True
    with file.open("rb") as f:
        head = f.read(512).lstrip().lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)


def _too_large(exc: ImageTooLargeError, config: AppConfig) -> str:
    limit = f"this studio restores up to {config.max_pixels / 1e6:g} MP on its CPU"
    if exc.width is None:
        return (f"the image header claims more than {exc.limit / 1e6:.0f} megapixels: refused without decoding it "
                f"(a decompression bomb?); {limit}")
    return (f"the image is {exc.width}×{exc.height} = {exc.width * exc.height / 1e6:.1f} megapixels; {limit}: "
            "downscale it, or run `python -m core` locally")


def load_upload(path: str | None, config: AppConfig) -> tuple[Image.Image, ImageInfo]:
    """The upload decoded (first frame of an animation) after :func:`check_upload`, and its header
    info; UploadError for damaged or truncated data."""
    info = check_upload(path, config)
    try:
        image = open_image(path, max_pixels=config.max_pixels)
    except ImageReadError as exc:
        raise UploadError(f"the {info.format or 'image'} file is damaged or truncated ({_last_words(exc.reason)}): "
                          "upload the complete file again") from None
    return image, info


def _last_words(reason: str) -> str:
    """"damaged or truncated image data (OSError: image file is truncated)" -> "image file is truncated"."""
    inner = reason[reason.find("(") + 1:reason.rfind(")")] if "(" in reason else reason
    return inner.split(": ", 1)[-1].strip() or reason


def browser_shows_as_read(path: str, image: Image.Image, info: ImageInfo) -> bool:
    """Whether a browser shows the uploaded file as the network saw it; if not (TIFF, CMYK, 16-bit,
    EXIF-rotated, animated), the before image is a PNG of what was read."""
    return (Path(path).suffix.lower() in BROWSER_FORMATS and info.mode in BROWSER_MODES and not info.animated
            and image.getexif().get(EXIF_ORIENTATION, 1) == 1)
