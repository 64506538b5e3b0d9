"""Finding images and pairing degraded/clean files in the folder layouts of the literature."""

from __future__ import annotations

import pathlib
import re
import struct
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable

from PIL import Image, UnidentifiedImageError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder is missing, misnamed or empty; the message shows the expected layout."""


@dataclass(frozen=True)
class Pair:
    """One sample: ``degraded`` is None when the degradation is synthesized on the fly
    (denoising: Gaussian noise of ``sigma`` added to ``clean``)."""

    degraded: pathlib.Path | None
    clean: pathlib.Path
    task: str
    sigma: float | None = None


def list_images(folder: pathlib.Path, recursive: bool = False) -> list[pathlib.Path]:
    """Sorted image files in ``folder`` (by extension, case-insensitive)."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def find_dir(root: pathlib.Path, aliases: Iterable[str], dataset: str, layout: str) -> pathlib.Path:
    """The first sub-folder of ``root`` whose name (case-insensitive) is in ``aliases``."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{dataset}: folder {root} not found; expected layout: {layout}")
    names = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for a in aliases:
        if a.lower() in names:
            return names[a.lower()]
    raise DatasetLayoutError(f"{dataset}: no sub-folder named {'|'.join(aliases)} in {root}; "
                             f"expected layout: {layout}")


def identifiable(path: pathlib.Path) -> bool:
    """True when PIL recognises ``path`` as an image (parses the header only)."""
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018
        return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def decode_problem(path: pathlib.Path) -> str | None:
    """Why ``path`` cannot be decoded as an image, or None when it can.

    Stricter than :func:`identifiable` and still cheap: a PNG has every chunk's CRC checked
    (truncation and corruption, no decompression); other formats are decoded (JPEG at 1/8 scale).
    """
    try:
        with Image.open(path) as im:
            if im.format == "PNG":
                im.verify()
            else:
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as err:
        text = " ".join(str(err).split()) or type(err).__name__
        return "not an image" if isinstance(err, UnidentifiedImageError) else text
    return None


def readable(paths: Iterable[pathlib.Path], dataset: str) -> list[pathlib.Path]:
    """Keep the files PIL can identify; warn once with the number skipped."""
    ok, bad = [], []
    for p in paths:
        (ok if identifiable(p) else bad).append(p)
    if bad:
        warnings.warn(f"{dataset}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]}", stacklevel=3)
    return ok


def digits_key(stem: str, prefix: str = "") -> str:
    """Stem without ``prefix`` (regex) and with numbers normalised: 'norain-001' -> '1'."""
    s = re.sub(f"^(?:{prefix})", "", stem, flags=re.IGNORECASE) if prefix else stem
    return str(int(s)) if s.isdigit() else s


def pair_files(degraded: list[pathlib.Path], clean: list[pathlib.Path], task: str, dataset: str,
               layout: str, key_degraded: Callable[[pathlib.Path], str],
               key_clean: Callable[[pathlib.Path], str] | None = None) -> list[Pair]:
    """Pair each degraded file with the clean file of the same key (many-to-one allowed)."""
    key_clean = key_clean or key_degraded
    by_key = {key_clean(p): p for p in clean}
    pairs = [Pair(d, by_key[key_degraded(d)], task) for d in degraded if key_degraded(d) in by_key]
    unmatched = len(degraded) - len(pairs)
    if not pairs:
        raise DatasetLayoutError(f"{dataset}: found {len(degraded)} degraded and {len(clean)} clean "
                                 f"images but no matching names; expected layout: {layout}")
    if unmatched:
        warnings.warn(f"{dataset}: {unmatched} degraded image(s) without a clean match were skipped", stacklevel=3)
    return pairs


def paired_folders(root: pathlib.Path, task: str, dataset: str, layout: str, degraded_aliases: tuple[str, ...],
                   clean_aliases: tuple[str, ...], key_degraded: Callable[[pathlib.Path], str],
                   key_clean: Callable[[pathlib.Path], str] | None = None, recursive: bool = False) -> list[Pair]:
    """Pairs from ``root/<degraded alias>/`` and ``root/<clean alias>/``."""
    ddir = find_dir(root, degraded_aliases, dataset, layout)
    cdir = find_dir(root, clean_aliases, dataset, layout)
    deg = readable(list_images(ddir, recursive), dataset)
    cln = readable(list_images(cdir, recursive), dataset)
    if not deg or not cln:
        empty = ddir if not deg else cdir
        raise DatasetLayoutError(f"{dataset}: no readable images in {empty}; expected layout: {layout}")
    return pair_files(deg, cln, task, dataset, layout, key_degraded, key_clean)


def pairs_from_txt(txt: str | pathlib.Path, task: str, root: str | pathlib.Path | None = None) -> list[Pair]:
    """The authors' paired lists: one ``degraded clean`` pair per line (whitespace or comma).

    Relative paths are resolved against ``root`` (default: the list's folder). Blank lines
    and lines starting with '#' are ignored; missing or unreadable files are skipped with
    one warning.
    """
    txt = pathlib.Path(txt)
    if not txt.is_file():
        raise DatasetLayoutError(f"pair list {txt} not found; expected a text file with one "
                                 f"'degraded clean' pair of image paths per line")
    base = pathlib.Path(root) if root is not None else txt.parent
    pairs, bad = [], 0
    for n, line in enumerate(txt.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [s for s in re.split(r"[\s,]+", line) if s]
        if len(parts) != 2:
            raise DatasetLayoutError(f"{txt}:{n}: expected 'degraded clean', got {line!r}")
        d, c = (p if pathlib.Path(p).is_absolute() else base / p for p in map(pathlib.Path, parts))
        if identifiable(d) and identifiable(c):
            pairs.append(Pair(pathlib.Path(d), pathlib.Path(c), task))
        else:
            bad += 1
    if bad:
        warnings.warn(f"{txt}: skipped {bad} pair(s) with missing or unreadable files", stacklevel=2)
    if not pairs:
        raise DatasetLayoutError(f"{txt}: no usable pairs (paths resolved against {base})")
    return pairs
