"""The studio's restore as plain functions (no gradio here); the Unfolding and atlas views are in
:mod:`app.views`.

The page in :mod:`app.ui` is wired to these by :mod:`app.wiring`, which turns their one-line errors
(:class:`app.uploads.UploadError`, ``ValueError``, :class:`app.state.ModelUnavailableError`) into messages.
Every restore writes one line to the ``app.requests`` logger (:func:`log_request`): size, model,
detected class, steering, mode, seconds and outcome; never the image or its name.
"""
from __future__ import annotations

import logging
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
from PIL import Image

import core
from core.degradations import CANONICAL
from core.ensemble import ENSEMBLES
from core.one_by_one import ALL_IN_ONE, MODES, ONE_BY_ONE, fallback_reason

from . import plots
from .features import StageView
from .jobs import Cancelled, Job, cancel_points, networks_of
from .models import check_choice
from .state import ModelHolder
from .steering import WordsReading, detection_belief, read_words, words_note
from .uploads import UploadError, browser_shows_as_read, check_upload, load_upload

GUIDANCE_CHOICES = [("Auto-detect", "auto"), ("None (uniform retrieval)", "uniform")] + \
    [(plots.DISPLAY[n], n) for n in CANONICAL] + [("Describe it in words…", "text")]
TILING_CHOICES = [("Auto", "auto"), ("Off", "off"), ("256 px", "256"), ("512 px", "512")]
GUIDANCE_VALUES = tuple(value for _, value in GUIDANCE_CHOICES)
MODE_CHOICES = [("All-in-one", ALL_IN_ONE), ("One-by-one (a specialist per degradation)", ONE_BY_ONE)]
ENSEMBLE_CHOICES = [("Off", "none"), ("×2 mirror", "mirror"), ("×4 flips", "flips"), ("×8", "dihedral")]
MAX_TEXT = 300  # characters of a description (the text tower reads 77 tokens at most)
OUTPUT_DIR = Path(tempfile.gettempdir()) / "vlunet-studio"
Progress = Callable[..., None]
STALE_AFTER = 5.0   # seconds a restore's stream may go unread before the job counts as abandoned
BEAT = 1.0          # a waiting or running restore yields a note at least this often (see Job.seen)
log = logging.getLogger("app.requests")


@dataclass
class Session:
    """What one browser session restored last (kept server-side in a ``gr.State``).

    The restore itself records nothing for the Unfolding view: every stage's full-size maps are
    extra work and hundreds of MB at a megapixel, and most restores are never inspected. When the
    Unfolding view is opened, :func:`record_stages` runs the network once more on the same file
    with the same steering (``degradation``) and ``mode``, with the trace on, and keeps only the
    drawn, pooled ``stages`` (a few MB); the full-size maps are let go at once.
    """

    input_path: str | None = None
    model: str | None = None
    degradation: str | None = None
    mode: str = ALL_IN_ONE
    traceable: bool = False
    trace_note: str = "Restore an image to look inside the unfolding."
    guidance: str = ""
    embedding: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    stages: list[StageView] | None = field(default=None, repr=False)
    output_path: str | None = None
    thumbs: tuple[np.ndarray | None, np.ndarray | None] | None = field(default=None, repr=False)
    key_names: list[str] | None = None


@dataclass
class RestoreOutcome:
    """``before`` is the uploaded file, ``after`` the restored image, written to ``png_path``;
    ``details`` is what the API returns as JSON (:func:`details`), ``steering_note`` the Markdown
    beside the result (what the words read as, how sure the detector is)."""

    before: str
    after: Image.Image
    png_path: str
    chart: go.Figure
    summary: str
    session: Session
    details: dict = field(default_factory=dict)
    steering_note: str = ""


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


def mode_argument(mode: str | None) -> str | None:
    """The ``mode`` of ``Restorer.restore`` (:data:`core.one_by_one.MODES`; None or "": None, the
    model's :attr:`core.Restorer.default_mode`)."""
    if not mode or not str(mode).strip():
        return None
    mode = str(mode).strip()
    if mode not in MODES:
        raise UploadError(f"mode must be one of {', '.join(MODES)}; got {mode[:40]!r}")
    return mode


def ensemble_argument(ensemble: str | None) -> str | None:
    """The ``ensemble`` of ``Restorer.restore`` (:data:`core.ensemble.ENSEMBLES`; None or "": None,
    the model's :attr:`core.Restorer.default_ensemble`)."""
    if not ensemble or not str(ensemble).strip():
        return None
    ensemble = str(ensemble).strip().lower()
    if ensemble not in ENSEMBLES:
        raise UploadError(f"ensemble must be one of {', '.join(ENSEMBLES)}; got {ensemble[:40]!r}")
    return ensemble


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


def _network_note(network: str, mode: str, probabilities: dict[str, float], degradation: str) -> str:
    """Which network restored the image, for the summary."""
    if network != ALL_IN_ONE:
        return f"restored by the {network} ({mode})"
    if mode == ALL_IN_ONE:
        return "restored by the all-in-one network"
    return f"restored by the all-in-one network (one-by-one: {fallback_reason(probabilities, degradation)})"


def restore(holder: ModelHolder, path: str | None, choice: str | None = "auto", text: str | None = "",
            tiling: str | None = "auto", progress: Progress | None = None, model: str | None = None,
            job: Job | None = None, mode: str | None = None, ensemble: str | None = None) -> RestoreOutcome:
    """Restore the uploaded file at ``path`` (no stage trace: see :func:`record_stages`).

    The file is checked from its header (:func:`check_upload`) and decoded once; an animated
    GIF/PNG/WebP is restored from its first frame (the summary says so), EXIF orientation is
    applied (the result is upright), alpha is carried over, 16-bit inputs are scaled to [0, 1].
    ``job``: checked after every tile and before every unfolding stage; a cancelled job raises
    :class:`app.jobs.Cancelled` there. ``mode``: "all-in-one", "one-by-one" (the specialist of
    the image's degradation type where the model has one, :mod:`core.one_by_one`), or None (the
    model's default: one-by-one for a model with specialists); the summary names the network that
    ran when the model has specialists (or the mode is one-by-one). ``ensemble``: "none", "mirror",
    "flips" or "dihedral", the self-ensemble of :mod:`core.ensemble` (2, 4 or 8 passes), or None
    (the model's default: "mirror" for ``vlunet-tiny``).
    """
    start = time.perf_counter()
    degradation, tile, mode = guidance_argument(choice, text), tile_argument(tiling), mode_argument(mode)
    ensemble = ensemble_argument(ensemble)
    model = check_choice(holder.config, model)
    image, info = load_upload(path, holder.config)
    width, height = info.size
    was_loaded = holder.is_loaded(model)
    if progress:
        progress(0.05, desc="Loading the model" if not was_loaded else "Restoring")
    restorer = holder.get(model)
    mode = mode or restorer.default_mode
    ensemble = ensemble or holder.default_ensemble(model)
    if tile is None:
        tile = restorer.auto_tile(height, width)   # decided before EXIF rotation: same pixel count
    untiled = tile == 0

    def on_tile(done: int, total: int) -> None:
        if job is not None:
            job.progress = f"tile {done}/{total}"
            job.check()
        if progress:
            progress(0.1 + 0.85 * done / total, desc=f"Tile {done}/{total}")

    if progress:
        progress(0.1, desc="Restoring")
    with cancel_points(networks_of(restorer), job):
        result = restorer.restore(image, degradation=degradation, tile=tile, progress=on_tile, mode=mode,
                                  ensemble=ensemble)
    width, height = result.image.size  # upright (EXIF orientation applied)
    png = _save_png(result.image, path)
    before = path if browser_shows_as_read(path, image, info) else \
        _save_png(core.to_pil(*core.read_image(image, max_pixels=holder.config.max_pixels)), "input")
    trace_limit = min(holder.config.trace_max_pixels, restorer.untiled_limit)
    traceable = untiled and width * height <= trace_limit
    session = Session(input_path=path, model=model, degradation=degradation, mode=mode, traceable=traceable,
                      guidance=result.guidance, output_path=png)
    if traceable:
        session.trace_note = (f"Open this tab, or press *Show the stages*, to record the eight stages of the last "
                              f"restore ({width}×{height}).")
    else:
        session.trace_note = (f"The last image ({width}×{height}) was restored in tiles: the stage trace needs one untiled "
                              f"pass, recorded up to {trace_limit / 1e6:.2f} MP with tiling on Auto or Off.")
    words = read_words(restorer.encoder, degradation) if result.guidance.startswith("text:") else None
    seconds = time.perf_counter() - start
    t = result.timings
    tiles = "untiled" if untiled else f"tiles of {tile} px"
    if ensemble != "none":
        tiles += f", self-ensemble of {len(ENSEMBLES[ensemble])}"
    summary = (f"**Restored {width}×{height}** in **{seconds:.2f} s** "
               f"(encoder {t['encoder']:.2f} s, network {t['network']:.2f} s, {tiles}) · "
               f"{_describe(result.guidance, result.degradation)}")
    if mode != ALL_IN_ONE or getattr(restorer, "specialists", None):
        summary += f" · {_network_note(result.network, mode, result.degradation, degradation)}"
    if info.animated:
        summary += f" · animated {info.format or 'image'}: its first frame was restored"
    if not was_loaded:
        summary += f" · model loaded in {holder.load_times.get(model, 0.0):.1f} s (first request)"
    unsure, belief = detection_belief(result.degradation)
    note = words_note(words)
    if result.degradation and unsure:
        note = (note + "\n\n" if note else "") + f"The detector is **{belief}**: check the chart, or choose the type."
    return RestoreOutcome(before, result.image, png, plots.degradation_bars(result.degradation, result.guidance),
                          summary, session, details(result.degradation, result.guidance, words, (width, height),
                                                    model, seconds, mode, result.network, ensemble), note)


def details(probabilities: dict[str, float], guidance: str, words: WordsReading | None, size: tuple[int, int],
            model: str, seconds: float, mode: str = ALL_IN_ONE, network: str = ALL_IN_ONE,
            ensemble: str = "none") -> dict:
    """What the API returns beside the image: detected probabilities (JSON numbers), the detector's
    top class and whether it is unsure, the steering used, what the user's words read as, the mode,
    the network that restored it ("all-in-one" or "<type> specialist") and the self-ensemble."""
    unsure, belief = detection_belief(probabilities)
    top = max(probabilities, key=probabilities.get) if probabilities else None
    return {"size": list(size), "model": model, "detected": top, "unsure": unsure, "belief": belief,
            "probabilities": {k: round(v, 6) for k, v in probabilities.items()}, "steering": guidance,
            "words": words.as_dict() if words else None, "mode": mode, "network": network,
            "ensemble": ensemble, "seconds": round(seconds, 3)}


def log_request(size: tuple[int, int] | None, model: str | None, guidance: str, outcome: str, seconds: float,
                probabilities: dict[str, float] | None = None, mode: str | None = ALL_IN_ONE) -> None:
    """One line per restore on the ``app.requests`` logger: size, model, detected class, steering,
    mode ("-" when it was none of :data:`core.one_by_one.MODES`), seconds and outcome (ok,
    cancelled, refused, failed). The user's words are cut to 60 characters."""
    top = max(probabilities, key=probabilities.get) if probabilities else "-"
    detected = f"{top}:{probabilities[top]:.2f}" if probabilities else "-"
    steering = guidance if not guidance.startswith("text:") else f"text:{guidance[5:65]!r}"
    log.info("restore size=%s model=%s detected=%s steering=%s mode=%s seconds=%.2f outcome=%s",
             f"{size[0]}x{size[1]}" if size else "-", Path(model).name if model else "-", detected, steering,
             mode if mode in MODES else "-", seconds, outcome)


def _waiting_note(ahead: int, seconds: float | None, own: float | None) -> str:
    people = "1 restore is" if ahead == 1 else f"{ahead} restores are"
    total = seconds + (own or 0) if seconds is not None else None
    wait = "" if total is None else f", about {total:.0f} s until yours is done" if total >= 1 else \
        ", less than a second of work"
    return f"Waiting for the model: {people} ahead of yours{wait}. *Cancel* gives up your place."


def restore_steps(holder: ModelHolder, path: str | None, choice: str | None = "auto", text: str | None = "",
                  tiling: str | None = "auto", poll: float = 0.25, model: str | None = None,
                  session: str | None = None, mode: str | None = None,
                  ensemble: str | None = None) -> Iterator[str | RestoreOutcome]:
    """:func:`restore` as a job in the model thread's line (:attr:`ModelHolder.line`), as a stream:
    one-line Markdown notes (its place in the line and an estimate while it waits, "Restoring
    512×512…" when it starts, the tiles done; one at least every :data:`BEAT` seconds), and last
    the :class:`RestoreOutcome`.

    The job belongs to ``session`` (Cancel and a closed tab cancel that session's jobs). Each time
    the stream is resumed the job is marked as seen: a stream nobody reads for :data:`STALE_AFTER`
    seconds (its client went away) stops the job at its next tile or stage. A cancelled restore
    raises :class:`app.jobs.Cancelled`. The arguments and the file's header are checked before the
    first note, so a refused upload raises its one-line error with nothing yielded. Writes one log
    line (:func:`log_request`) however it ends.
    """
    start = time.perf_counter()
    size, outcome, probabilities, guidance, job = None, "failed", None, str(choice or "auto"), None
    try:
        guidance = guidance_argument(choice, text)
        tile = tile_argument(tiling)
        mode = mode_argument(mode)
        ensemble = ensemble_argument(ensemble)
        model = check_choice(holder.config, model)
        size = check_upload(path, holder.config).size
        width, height = size
        started = f"Restoring {width}×{height}…"
        cost = None
        if holder.is_loaded(model):
            restorer = holder.get(model)
            cost = restorer.estimate_seconds(height, width, ensemble) if tile is None else None
            started += f" (about {cost:.0f} s on this machine)" if cost and cost >= 2 else ""
        else:
            started += " (loading the model first)"
        job = Job(session=session, estimate=cost, stale_after=STALE_AFTER)
        notes: queue.SimpleQueue[str] = queue.SimpleQueue()
        future = holder.line.submit(job, restore, holder, path, choice, text, tiling,
                                    lambda fraction, desc="": notes.put(desc), model, job, mode, ensemble)
        ahead = holder.line.ahead(job)
        last, last_at = (started if job.started is not None or not ahead[0] else _waiting_note(*ahead, cost)), \
            time.perf_counter()
        yield last
        while True:
            job.seen()
            try:
                result = future.result(timeout=poll)
                break
            except FutureTimeout:
                if job.started is None:
                    note = _waiting_note(*holder.line.ahead(job), cost)
                else:
                    latest = None
                    while not notes.empty():
                        latest = notes.get()
                    note = f"{started} {latest.lower()} done" if latest and latest.startswith("Tile") else \
                        (last if last and last.startswith(started) else started)
                if note != last or time.perf_counter() - last_at >= BEAT:
                    last, last_at = note, time.perf_counter()
                    yield note
        probabilities, guidance, outcome = result.details.get("probabilities"), result.session.guidance, "ok"
        mode = result.details.get("mode", mode)
        yield result
    except Cancelled:
        outcome = "cancelled"
        raise
    except GeneratorExit:   # the stream was closed before the end: stop the work too
        outcome = "abandoned"
        if job is not None:
            job.cancel("the page went away")
        raise
    except (UploadError, ValueError, FileNotFoundError):
        outcome = "refused"
        raise
    finally:
        log_request(size, model if isinstance(model, str) else None, guidance, outcome,
                    time.perf_counter() - start, probabilities, mode)
