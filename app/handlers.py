"""The studio's work as plain functions (no gradio here): restore, unfolding view, atlas view.

The UI in :mod:`app.ui` wires these to components and turns their one-line errors
(:class:`app.uploads.UploadError`, ``ValueError``, :class:`app.state.ModelUnavailableError`) into messages.
"""
from __future__ import annotations

import queue
import re
import tempfile
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

import core
from core.degradations import CANONICAL

from . import plots
from .atlas import Atlas, AtlasTableError, AtlasUnavailableError
from .features import StageView, compact_stages, render_stage
from .models import check_choice
from .state import ModelHolder
from .uploads import UploadError, browser_shows_as_read, check_upload, load_upload

GUIDANCE_CHOICES = [("Auto-detect", "auto"), ("None (uniform retrieval)", "uniform")] + \
    [(plots.DISPLAY[n], n) for n in CANONICAL] + [("Describe it in words…", "text")]
TILING_CHOICES = [("Auto", "auto"), ("Off", "off"), ("256 px", "256"), ("512 px", "512")]
GUIDANCE_VALUES = tuple(value for _, value in GUIDANCE_CHOICES)
MAX_TEXT = 300  # characters of a description (the text tower reads 77 tokens at most)
OUTPUT_DIR = Path(tempfile.gettempdir()) / "vlunet-studio"
Progress = Callable[..., None]


@dataclass
class Session:
    """What one browser session restored last (kept server-side in a ``gr.State``).

    The restore itself records nothing for the Unfolding view: every stage's full-size maps are
    extra work and hundreds of MB at a megapixel, and most restores are never inspected. When the
    Unfolding view is opened, :func:`record_stages` runs the network once more on the same file
    with the same steering (``degradation``), with the trace on, and keeps only the drawn,
    pooled ``stages`` (a few MB); the full-size maps are let go at once.
    """

    input_path: str | None = None
    model: str | None = None
    degradation: str | None = None
    traceable: bool = False
    trace_note: str = "Restore an image to look inside the unfolding."
    guidance: str = ""
    embedding: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    stages: list[StageView] | None = field(default=None, repr=False)


@dataclass
class RestoreOutcome:
    """``before`` is the uploaded file, ``after`` the restored image, written to ``png_path``."""

    before: str
    after: Image.Image
    png_path: str
    chart: go.Figure
    summary: str
    session: Session


def guidance_argument(choice: str | None, text: str | None) -> str:
    """The ``degradation`` argument of ``Restorer.restore`` for the UI's choice and free text
    (checked here: the restore event takes its inputs unprocessed, as an API client sent them)."""
    choice = str(choice or "auto").strip()
    if choice not in GUIDANCE_VALUES:
        raise UploadError(f"guidance must be one of {', '.join(GUIDANCE_VALUES)}; got {choice[:40]!r}")
    if choice == "text":
        text = str(text or "").strip()
        if not text:
            raise UploadError("type what is wrong with the photo (for example \"remove the fog\"), or pick a type")
        if len(text) > MAX_TEXT:
            raise UploadError(f"describe the degradation in at most {MAX_TEXT} characters (got {len(text)})")
        return text
    return choice


def tile_argument(tiling: str | None) -> int | None:
    """UI tiling choice -> ``tile`` of ``Restorer.restore`` (None automatic, 0 off, N pixels)."""
    tiling = str(tiling or "auto").strip().lower()[:20]
    if tiling == "auto":
        return None
    if tiling == "off":
        return 0
    if tiling.isdigit() and int(tiling) % 8 == 0 and int(tiling) >= 64:
        return int(tiling)
    raise UploadError(f"tiling must be auto, off or a tile size in pixels (a multiple of 8, >= 64), got {tiling!r}")


def _save_png(image: Image.Image, source: str | None = None) -> str:
    """Write ``image`` as PNG in a fresh folder of the studio's temp folder (files over an hour old
    are removed). The name keeps only ``[A-Za-z0-9_-]`` of ``source``'s stem (an upload's name):
    whatever the upload was called, the file lands in that folder."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.glob("*/*.png"):
        if now - old.stat().st_mtime > 3600:
            old.unlink(missing_ok=True)
            old.parent.rmdir() if not any(old.parent.iterdir()) else None
    folder = OUTPUT_DIR / uuid.uuid4().hex[:12]
    folder.mkdir()
    path = folder / f"{safe_stem(source)}-restored.png"
    if path.resolve().parent != folder.resolve():  # cannot happen with safe_stem; never write elsewhere
        raise UploadError("refused to write the result outside the studio's temp folder")
    image.save(path, format="PNG", compress_level=3)  # quick to write, still compact
    return str(path)


def safe_stem(source: str | None, limit: int = 60) -> str:
    """A file-name stem from an upload's name: ASCII letters, digits, "_" and "-" only ("image" if none)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(source or "").stem).strip("_-")[:limit]
    return stem or "image"


def _describe(guidance: str, probabilities: dict[str, float]) -> str:
    if guidance == "auto" and probabilities:
        top = max(probabilities, key=probabilities.get)
        return f"auto-detected *{plots.DISPLAY.get(top, top)}*"
    if guidance == "uniform":
        return "uniform retrieval (no degradation vector)"
    if guidance.startswith("class:"):
        name = guidance[6:]
        return f"steered to *{plots.DISPLAY.get(name, name)}*"
    if guidance.startswith("text:"):
        return f"steered by the words “{guidance[5:]}”"
    return guidance


def restore(holder: ModelHolder, path: str | None, choice: str | None = "auto", text: str | None = "",
            tiling: str | None = "auto", progress: Progress | None = None, model: str | None = None) -> RestoreOutcome:
    """Restore the uploaded file at ``path`` (no stage trace: see :func:`record_stages`).

    The file is checked from its header (:func:`check_upload`) and decoded once; an animated
    GIF/PNG/WebP is restored from its first frame (the summary says so), EXIF orientation is
    applied (the result is upright), alpha is carried over, 16-bit inputs are scaled to [0, 1].
    """
    start = time.perf_counter()
    degradation, tile = guidance_argument(choice, text), tile_argument(tiling)
    model = check_choice(holder.config, model)
    image, info = load_upload(path, holder.config)
    width, height = info.size
    was_loaded = holder.is_loaded(model)
    if progress:
        progress(0.05, desc="Loading the model" if not was_loaded else "Restoring")
    restorer = holder.get(model)
    if tile is None:
        tile = restorer.auto_tile(height, width)   # decided before EXIF rotation: same pixel count
    untiled = tile == 0

    def on_tile(done: int, total: int) -> None:
        if progress:
            progress(0.1 + 0.85 * done / total, desc=f"Tile {done}/{total}")

    if progress:
        progress(0.1, desc="Restoring")
    result = restorer.restore(image, degradation=degradation, tile=tile, progress=on_tile)
    width, height = result.image.size  # upright (EXIF orientation applied)
    png = _save_png(result.image, path)
    before = path if browser_shows_as_read(path, image, info) else \
        _save_png(core.to_pil(*core.read_image(image, max_pixels=holder.config.max_pixels)), "input")
    trace_limit = min(holder.config.trace_max_pixels, restorer.untiled_limit)
    traceable = untiled and width * height <= trace_limit
    session = Session(input_path=path, model=model, degradation=degradation, traceable=traceable,
                      guidance=result.guidance)
    if traceable:
        session.trace_note = (f"Open this tab, or press *Show the stages*, to record the eight stages of the last "
                              f"restore ({width}×{height}).")
    else:
        session.trace_note = (f"The last image ({width}×{height}) was restored in tiles: the stage trace needs one untiled "
                              f"pass, recorded up to {trace_limit / 1e6:.2f} MP with tiling on Auto or Off.")
    t = result.timings
    tiles = "untiled" if untiled else f"tiles of {tile} px"
    summary = (f"**Restored {width}×{height}** in **{time.perf_counter() - start:.2f} s** "
               f"(encoder {t['encoder']:.2f} s, network {t['network']:.2f} s, {tiles}) · "
               f"{_describe(result.guidance, result.degradation)}")
    if info.animated:
        summary += f" · animated {info.format or 'image'}: its first frame was restored"
    if not was_loaded:
        summary += f" · model loaded in {holder.load_times.get(model, 0.0):.1f} s (first request)"
    return RestoreOutcome(before, result.image, png, plots.degradation_bars(result.degradation, result.guidance),
                          summary, session)


def restore_steps(holder: ModelHolder, path: str | None, choice: str | None = "auto", text: str | None = "",
                  tiling: str | None = "auto", poll: float = 0.25, model: str | None = None) -> Iterator[str | RestoreOutcome]:
    """:func:`restore` on the model thread (:meth:`ModelHolder.submit`), as a stream: a one-line
    Markdown note that the restore started (with what it should cost, once the model has been
    timed on this machine), a note each time tiles are done (checked every ``poll`` seconds), and
    last the :class:`RestoreOutcome`.

    The arguments and the file's header are checked before the first note, so a refused upload
    raises its one-line error with nothing yielded. The studio shows the notes in place of a
    progress bar: gradio's progress display redraws the page on every animation frame while it is
    up, and a browser on the same two cores then slows the network by a fifth or more.
    """
    guidance_argument(choice, text)
    tile_argument(tiling)
    model = check_choice(holder.config, model)
    width, height = check_upload(path, holder.config).size
    started = f"Restoring {width}×{height}…"
    if holder.is_loaded(model):
        restorer = holder.get(model)
        cost = restorer.estimate_seconds(height, width) if tile_argument(tiling) is None else None
        yield started + (f" (about {cost:.0f} s on this machine)" if cost and cost >= 2 else "")
    else:
        yield started + " (loading the model first)"
    notes: queue.SimpleQueue[str] = queue.SimpleQueue()
    future = holder.submit(restore, holder, path, choice, text, tiling,
                           lambda fraction, desc="": notes.put(desc), model)
    while True:
        try:
            outcome = future.result(timeout=poll)
            break
        except FutureTimeout:
            latest = None
            while not notes.empty():
                latest = notes.get()
            if latest and latest.startswith("Tile"):
                yield f"{started} {latest.lower()} done"
    yield outcome


def record_stages(holder: ModelHolder, session: Session | None) -> list[StageView] | None:
    """The drawn stages of the session's last restore, recorded on first call (then kept).

    Runs the network once more on the same file with the same steering and ``trace=True``
    (auto-detection gives the same d_I again: the encoder is deterministic), pools and draws
    each stage (:func:`app.features.compact_stages`) and lets the full-size maps go. None, with
    ``session.trace_note`` saying why, when there is no restore, it was tiled, or the file is gone.
    """
    if session is None or session.stages is not None or not session.traceable:
        return session.stages if session else None
    start = time.perf_counter()
    try:
        image, _ = load_upload(session.input_path, holder.config)
        result = holder.get(session.model).restore(image, degradation=session.degradation, tile=0, trace=True)
        session.stages = [render_stage(c) for c in compact_stages(result.stages)]
        del result
    except (UploadError, FileNotFoundError) as exc:
        session.traceable = False
        session.trace_note = f"The last image cannot be read again ({exc}): restore it again to look inside."
        return None
    session.trace_note = (f"The eight stages of the last restore, recorded in {time.perf_counter() - start:.1f} s "
                          "(one more pass of the network with every stage's maps kept).")
    return session.stages


def stage_labels(stages: list[StageView]) -> list[str]:
    return [f"{s.index} {s.title}" for s in stages]


def unfolding_overview(session: Session | None) -> tuple[list, go.Figure, go.Figure, str]:
    """Gallery items (after-proximal thumbnail, caption) for all stages, the two stage plots, a note
    (the stages :func:`record_stages` drew; nothing is recorded here)."""
    if session is None or not session.stages:
        note = session.trace_note if session else Session().trace_note
        return [], plots.empty_figure(note, 340), plots.empty_figure(note, 340), note
    stages = session.stages
    gallery = [(s.after_proximal, s.caption) for s in stages]
    return (gallery, weights_figure(stages, None), changes_figure(stages, None), session.trace_note)


def weights_figure(stages: list[StageView], selected: int | None) -> go.Figure:
    width = max(len(s.weights) for s in stages)
    matrix = np.stack([np.pad(s.weights, (0, width - len(s.weights))) for s in stages])
    return plots.weights_heatmap(matrix, stage_labels(stages), selected)


def changes_figure(stages: list[StageView], selected: int | None) -> go.Figure:
    return plots.stage_changes(stage_labels(stages), [s.change_gradient for s in stages],
                               [s.change_proximal for s in stages], [s.step for s in stages], selected)


def stage_detail(session: Session | None, index: int) -> tuple[np.ndarray | None, np.ndarray | None,
                                                               np.ndarray | None, str, go.Figure, go.Figure]:
    """Stage ``index`` (1..8): after-gradient, after-proximal and correction images, its text, both plots."""
    if session is None or not session.stages:
        note = session.trace_note if session else Session().trace_note
        return None, None, None, note, plots.empty_figure(note, 340), plots.empty_figure(note, 340)
    stages = session.stages
    i = min(max(int(index), 1), len(stages)) - 1
    s = stages[i]
    h, w = s.resolution
    top = int(np.argmax(s.weights))
    text = (f"### Stage {s.index} of {len(stages)}: {s.title}\n"
            f"Level {s.level} · features {w}×{h}×{s.channels} · learned step **r = {s.step:.4g}** · "
            f"heaviest key **{top + 1}** ({s.weights[top]:.0%}) · gradient step changes the estimate by "
            f"**{s.change_gradient:.1%}**, the proximal step by **{s.change_proximal:.1%}**.")
    return (s.after_gradient, s.after_proximal, s.correction, text,
            weights_figure(stages, i), changes_figure(stages, i))


def image_embedding(restorer: core.Restorer, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(raw, adapted) encoder embeddings of the image at ``path`` (1-D float32 each)."""
    rgb, _ = core.read_image(path, max_pixels=restorer.max_pixels)
    with torch.inference_mode():
        raw = restorer.encoder.encode_image_raw(rgb[None].to(restorer.device))
        adapted = restorer.encoder.adapt_image(raw)
    return raw[0].float().cpu().numpy(), adapted[0].float().cpu().numpy()


def atlas_figures(atlas: Atlas | None, session: Session | None = None, holder: ModelHolder | None = None,
                  project: bool = False) -> tuple[go.Figure, go.Figure, str]:
    """Both UMAP scatters; with ``project`` the last restored image is placed in both as a star."""
    if atlas is None:
        msg = "No atlas table configured."
        return plots.empty_figure(msg, 520), plots.empty_figure(msg, 520), msg
    try:
        maps = atlas.maps()
    except (AtlasUnavailableError, AtlasTableError) as exc:
        msg = str(exc)
        return plots.empty_figure(msg, 520), plots.empty_figure(msg, 520), f"⚠️ {msg}"
    user_before = user_after = None
    note = (f"{int((maps.before['kind'] == 'image').sum())} degraded crops; "
            f"{int((maps.after['kind'] == 'prompt').sum())} prompts in the fine-tuned map (diamonds). "
            "Filled circles: validation photos, open circles: training photos.")
    if project and session is not None and session.input_path:
        try:
            restorer = holder.get(session.model) if holder is not None else None
            if restorer is None or restorer.encoder is None:
                note += " Your image cannot be placed: no degradation encoder is loaded."
            else:
                if session.embedding is None:
                    session.embedding = image_embedding(restorer, session.input_path)
                user_before, user_after = atlas.project(*session.embedding)
                note += " ★ marks your last restored image."
        except (AtlasTableError, ValueError, FileNotFoundError, RuntimeError) as exc:
            note += f" Your image cannot be placed: {exc}"
    elif project:
        note += " Restore an image to see where it falls (★)."
    return (plots.atlas_scatter(maps.before, "Before fine-tuning: frozen backbone embeddings", user_before),
            plots.atlas_scatter(maps.after, "After fine-tuning: adapted embeddings and prompts", user_after), note)
