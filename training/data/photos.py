"""Clean-photo corpus rebuilt from Debian packages.

No benchmark dataset can be downloaded where this project is trained, so the embedded
default model is trained on natural photographs that ship inside Debian packages, degraded
by :mod:`core.degradations`. The photographs were chosen by looking at every image in the
packages (illustrations, logos, renders, calibration boards, grey-scale, hazy and
motion-blurred pictures left out); the choice is the committed manifest
``training/data/photo_manifest.csv`` (file inside the package, package, sha256 of the
original file, licence, train/val split by image, description).

``python -m training.data.photos --out data/photos`` fetches the packages with
``apt-get download`` into a temporary folder, unpacks them with ``dpkg -x`` (nothing is
installed), checks every file against its sha256 and writes ``<out>/<split>/<name>.png``:
RGB, 8 bit, long side at most 2048 pixels (larger wallpapers are downscaled with a Lanczos
filter), plus ``<out>/index.json``. Running it again does nothing when every photo is there.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from PIL import Image

MANIFEST = pathlib.Path(__file__).with_name("photo_manifest.csv")
SPLITS = ("train", "val")
MAX_SIDE = 2048
FIELDS = ("file", "package", "sha256", "licence", "split", "description")
# Folders under usr/share/ left out of corpus file names (the package name already says
# where a photo comes from); "backgrounds/mate/" before "backgrounds/" so the longer one wins.
# Adding a folder must not rename an existing photo: the index and the val set go by name.
NAME_FOLDERS = ("doc/opencv-doc/examples/", "backgrounds/mate/", "backgrounds/", "lxqt/wallpapers/",
                "forensics-samples/original-files/", "palapeli/collection/", "sddm/themes/",
                "digikam/about/images/", "libjxl-testdata/jxl/", "cargo/registry/")
_NAME_PREFIX = re.compile("^usr/share/(" + "|".join(map(re.escape, NAME_FOLDERS)) + ")?")


class PhotoCorpusError(RuntimeError):
    """The corpus cannot be built or found; the message says what to do."""


@dataclass(frozen=True)
class PhotoRecord:
    """One curated photograph (a row of the manifest)."""

    file: str
    package: str
    sha256: str
    licence: str
    split: str
    description: str

    @property
    def name(self) -> str:
        """File name of the re-encoded photo in the corpus (without folder)."""
        stem = _NAME_PREFIX.sub("", self.file)
        stem = re.sub(r"[^A-Za-z0-9.-]+", "_", stem.rsplit(".", 1)[0])
        return f"{self.package}__{stem}.png"


def read_manifest(path: str | pathlib.Path = MANIFEST) -> list[PhotoRecord]:
    """Read and validate the manifest; raises :class:`PhotoCorpusError` on a bad row."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise PhotoCorpusError(f"{path}: expected columns {','.join(FIELDS)}, got {reader.fieldnames}")
        records = [PhotoRecord(**row) for row in reader]
    for r in records:
        if r.split not in SPLITS or not re.fullmatch(r"[0-9a-f]{64}", r.sha256) or not r.licence:
            raise PhotoCorpusError(f"{path}: bad row for {r.file!r} (split, sha256 or licence)")
    return records


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(cmd: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def _fetch_packages(packages: list[str], work: pathlib.Path) -> dict[str, pathlib.Path]:
    """``apt-get download`` + ``dpkg -x`` each package into ``work``; returns unpacked roots."""
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise PhotoCorpusError(
            "apt-get/dpkg not found: build the photo corpus on a Debian/Ubuntu machine "
            "(or copy an existing data/photos folder here)")
    result = _run(["apt-get", "download", *packages], work)
    if result.returncode != 0:  # stale package lists: refresh once and retry
        _run(["apt-get", "update"], work)
        result = _run(["apt-get", "download", *packages], work)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise PhotoCorpusError(f"apt-get download failed ({last}); run `apt-get update` "
                               f"and check that {', '.join(packages)} are available")
    roots = {}
    for pkg in packages:
        debs = sorted(work.glob(f"{pkg}_*.deb"))
        if not debs:
            raise PhotoCorpusError(f"apt-get download did not produce a .deb for {pkg}")
        roots[pkg] = work / "x" / pkg
        roots[pkg].mkdir(parents=True)
        if _run(["dpkg", "-x", str(debs[-1]), str(roots[pkg])], work).returncode != 0:
            raise PhotoCorpusError(f"dpkg -x could not unpack {debs[-1].name}")
    return roots


def _encode(src: pathlib.Path, dst: pathlib.Path, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """Write ``src`` as RGB PNG with long side <= ``max_side`` (0: as it is); returns (width, height)."""
    Image.MAX_IMAGE_PIXELS = None  # trusted package content, some wallpapers are 6000x4000
    with Image.open(src) as im:
        im = im.convert("RGB")
        scale = max_side / max(im.size) if max_side else 1.0
        if scale < 1:
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            im = im.resize(size, Image.LANCZOS, reducing_gap=3.0)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp.png")
        im.save(tmp, format="PNG", compress_level=6)
        tmp.replace(dst)
        return im.size


def _load_index(out: pathlib.Path) -> dict:
    try:
        return json.loads((out / "index.json").read_text())
    except (OSError, ValueError):
        return {}


def build_corpus(out: str | pathlib.Path, manifest: str | pathlib.Path = MANIFEST,
                 log=print, max_side: int = MAX_SIDE) -> dict:
    """Build (or check) the corpus in ``out``; returns the index (name -> record). ``max_side``:
    the long side photos are downscaled to (0: native size, for whole-photo benchmarks)."""
    out = pathlib.Path(out)
    records = read_manifest(manifest)
    index = _load_index(out)

    def done(r: PhotoRecord) -> bool:
        entry = index.get(r.name)
        return bool(entry) and entry["source_sha256"] == r.sha256 and entry["split"] == r.split \
            and entry.get("max_side", MAX_SIDE) == max_side and (out / r.split / r.name).is_file()

    todo = [r for r in records if not done(r)]
    if not todo:
        log(f"photo corpus up to date: {len(records)} photos in {out}")
        return index
    with tempfile.TemporaryDirectory(prefix="photos-") as tmp:
        roots = _fetch_packages(sorted({r.package for r in todo}), pathlib.Path(tmp))
        bad = []
        for r in todo:
            src = roots[r.package] / r.file
            if not src.is_file() or _sha256(src) != r.sha256:
                bad.append(r.file)
                continue
            w, h = _encode(src, out / r.split / r.name, max_side)
            index[r.name] = {"split": r.split, "source_sha256": r.sha256, "package": r.package,
                             "file": r.file, "licence": r.licence, "width": w, "height": h,
                             **({"max_side": max_side} if max_side != MAX_SIDE else {})}
    for stale in set(index) - {r.name for r in records}:
        index.pop(stale)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    if bad:
        raise PhotoCorpusError(f"{len(bad)} file(s) missing or with a different sha256 (package "
                               f"version changed?): {', '.join(bad[:3])}")
    log(f"photo corpus: wrote {len(todo)} photos, {len(records)} in {out}")
    return index


def package_of(path: str | pathlib.Path) -> str:
    """The Debian package a corpus photo came from (its file name is ``<package>__<stem>.png``)."""
    return pathlib.Path(path).name.split("__")[0]


def photo_paths(root: str | pathlib.Path = "data/photos", split: str = "train") -> list[pathlib.Path]:
    """Sorted paths of the corpus photos of ``split`` ('train' or 'val') under ``root``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = pathlib.Path(root) / split
    names = sorted(r.name for r in read_manifest() if r.split == split)
    paths = [folder / n for n in names if (folder / n).is_file()]
    if not paths:
        raise PhotoCorpusError(f"no {split} photos in {folder}: build them with "
                               f"`python -m training.data.photos --out {root}`")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/photos", help="corpus folder (default data/photos)")
    parser.add_argument("--manifest", default=str(MANIFEST), help="curated manifest CSV")
    parser.add_argument("--max-side", type=int, default=MAX_SIDE,
                        help=f"long side photos are downscaled to (default {MAX_SIDE}; 0: native size)")
    args = parser.parse_args(argv)
    try:
        build_corpus(args.out, args.manifest, max_side=args.max_side)
    except PhotoCorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
