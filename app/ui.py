"""Layout and wiring of the studio: ``build_demo()`` makes the Blocks, loads nothing.

Endpoints (``gradio_client``; every event has an ``api_name``):

* ``/restore`` (image file, guidance, text, tiling) -> (before/after pair, degradation chart,
  summary Markdown, full-resolution PNG). ``guidance``: "auto", "uniform", a canonical name
  ("noise_15", "noise_25", "noise_50", "haze", "rain", "blur", "low_light") or "text" (then
  ``text`` is the description, e.g. "remove the fog"); ``tiling``: "auto", "off", "256", "512".
  Any PIL-readable photo (JPEG, PNG, WebP, GIF, BMP, TIFF; 8 or 16 bit, palette, CMYK, alpha);
  EXIF orientation is applied, alpha carried over, an animated file restored from its first frame
  (the summary says so). Refused with a one-line reason before any pixel is decoded: empty files,
  non-images, SVG, more than ``max_pixels`` (decompression bombs included), sides more than
  ``max_aspect`` apart; damaged or truncated data is refused when decoding. The event streams:
  ``Client.predict`` returns the final result, while ``Client.submit`` also yields the notes shown
  while it runs (the summary reads "Restoring 512×512…", then the tiles done; the other outputs are
  left as they were).
* ``/status`` -> what model is loaded (or why none is); the Unfolding and atlas events are
  documented as UI-only.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable

import gradio as gr

import core

from . import handlers, plots
from .atlas import Atlas, default_table_path
from .atlas_photos import AtlasBook
from .config import ROOT, AppConfig
from .models import model_choices
from .state import ModelHolder, ModelUnavailableError

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CSS = """
.gradio-container {max-width: 1400px !important; margin: auto;}
#studio-title h1 {margin-bottom: 0.1em;}
#studio-status {font-size: 0.92em; opacity: 0.85;}
#stage-gallery .caption-label {font-size: 0.78em;}
.explain {font-size: 0.92em; opacity: 0.9;}
"""
INTRO = ("# VLU-Net Studio\nAll-in-one photo restoration with a vision-language deep unfolding network "
         "(VLU-Net, CVPR 2025): drop a noisy, hazy, rainy, blurred or dark photo, see what was detected, "
         "steer it with words, and look inside each of the eight unfolding stages.")
UNFOLDING_HELP = (
    "Each stage is one step of proximal gradient descent in feature space: **z = x − r·Φᵀ(Φ(x, key) − y)** "
    "(the gradient step, steered by the degradation key retrieved with d_I), then **x = prox(z)** "
    "(Restormer blocks). Feature maps are drawn through the first three principal components of the stage's "
    "channels (computed on x after the proximal step, used for both images, stretched 1–99 %), so the two "
    "images of a stage are comparable; colours mean nothing across stages. The correction is the per-pixel "
    "size of the subtracted gradient step.")
ATLAS_HELP = (
    "UMAP (cosine) of degraded validation and training crops embedded by the degradation encoder, **before** "
    "fine-tuning (frozen backbone) and **after** (trained adapters, the d_I that steers the network), coloured "
    "by the degradation that was synthesised. Prompts are plotted in the fine-tuned map. The first opening "
    "fits both maps (cached afterwards).")


def launch_kwargs(config: AppConfig | None = None) -> dict:
    """Arguments of ``demo.launch`` the studio needs: the upload size limit (bytes; gradio refuses a
    bigger upload before it is stored), no share link (even with GRADIO_SHARE set), no extra served
    folder, the repository's weights, data, runs, git folder and the studio's cache blocked from
    being served or returned, and a bound on the sessions whose state is kept; then theme and CSS."""
    config = config or AppConfig.from_env()
    blocked = [ROOT / ".git", ROOT / "data", ROOT / "runs", ROOT / "assets" / "models", ROOT / "assets" / "encoder",
               Path(config.cache_dir)]
    return dict(max_file_size=config.max_file_bytes, share=False, allowed_paths=[],
                blocked_paths=[str(p.resolve()) for p in blocked], state_session_capacity=config.state_sessions,
                theme=gr.themes.Soft(), css=CSS, footer_links=["api", "gradio"])


def upload_path(payload) -> str | None:
    """The server path of the uploaded file, from the restore event's unprocessed image payload.

    The restore event skips gradio's preprocessing (``preprocess=False``): for ``gr.Image`` it opens
    the file with PIL first, so an empty file, a non-image or a decompression bomb would fail there
    with an opaque error, while :func:`uploads.check_upload` refuses each with its reason. gradio
    has already checked that the path is a file uploaded to this server (before preprocessing).
    """
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    if payload.get("url", "") and str(payload["url"]).startswith("data:"):
        raise gr.Error("send the image as a file upload, not as a data: URL", title="Cannot restore this image",
                       print_exception=False)
    return payload.get("path")


def _message(fn: Callable) -> Callable:
    """Run a streaming handler (a generator), turning its one-line errors into a visible message."""
    @functools.wraps(fn)
    def streamed(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except ModelUnavailableError as exc:
            raise gr.Error(f"Restoration weights are not available: {exc}", title="Model missing", duration=None,
                           print_exception=False) from None
        except (ValueError, FileNotFoundError) as exc:
            raise gr.Error(str(exc), title="Cannot restore this image", print_exception=False) from None
        except MemoryError:
            raise gr.Error("the server ran out of memory on this image: try a smaller one, or tiling 256 px",
                           title="Cannot restore this image", print_exception=False) from None
    return streamed


def build_demo(config: AppConfig | None = None, restorer_factory: Callable | None = None,
               atlas: Atlas | None = None) -> gr.Blocks:
    """The studio. ``restorer_factory(config) -> Restorer | (Restorer, note)`` replaces the shipped
    model (tests); ``atlas`` replaces the atlas beside the default encoder. Nothing is loaded here."""
    config = config or AppConfig.from_env()
    core.keep_freed_memory()   # before the server's worker threads allocate (core/allocator.py)
    holder = ModelHolder(config, restorer_factory)
    if atlas is None:
        table = Path(config.atlas_table) if config.atlas_table else default_table_path(config.encoder)
        atlas = Atlas(table, Path(config.cache_dir) / "atlas")
    book = AtlasBook(holder, atlas, Path(config.cache_dir) / "atlas")

    def restore(path, choice, text, tiling, model=None):
        """Restore an image. guidance: auto | uniform | noise_15 | noise_25 | noise_50 | haze | rain | blur |
        low_light | text (then `text` describes the degradation); tiling: auto | off | 256 | 512; model: one
        of the models the page lists (default: the studio's default). An animated GIF/PNG/WebP is restored
        from its first frame. Returns the (input, restored) pair, the detected-degradation chart, a
        summary and the restored PNG."""
        keep = gr.skip()
        shown = False
        try:
            for step in handlers.restore_steps(holder, upload_path(path), choice, text, tiling, model=model):
                if isinstance(step, str):   # a note while it runs, in the summary's place
                    shown = True
                    yield keep, keep, step, keep, keep
                else:
                    yield (step.before, step.png_path), step.chart, step.summary, step.png_path, step.session
        except Exception:
            if shown:   # the error itself is shown as a message
                yield keep, keep, "Not restored: see the message.", keep, keep
            raise

    def unfolding(session):
        """Record (once per restore) and draw the eight stages of the last restored image."""
        handlers.record_stages(holder, session)
        gallery, weights, changes, note = handlers.unfolding_overview(session)
        return (gallery, note, 1) + handlers.stage_detail(session, 1)

    def unfolding_waiting(session):
        """After a restore: enable the download, clear the Unfolding view (its stages are recorded when
        the tab is opened)."""
        note = (session or handlers.Session()).trace_note
        return (gr.DownloadButton(interactive=True), [], note, 1) + handlers.stage_detail(session, 1)

    def go_to(session, index):
        n = len(session.stages) if session and session.stages else 8
        index = min(max(int(index), 1), n)
        return (index,) + handlers.stage_detail(session, index)

    def on_select(session, evt: gr.SelectData):
        return go_to(session, evt.index + 1)

    with gr.Blocks(title="VLU-Net Studio") as demo:
        session = gr.State(None)
        with gr.Row():
            gr.Markdown(INTRO, elem_id="studio-title")
        with gr.Row(equal_height=True):
            status = gr.Markdown("Checking the model…", elem_id="studio-status")
            models = model_choices(config)
            model = gr.Dropdown(models, value=models[0][1], label="Model", scale=0, min_width=260,
                                elem_id="model-choice", visible=len(models) > 1)
        with gr.Tabs():
            with gr.Tab("Restore", id="restore"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5):
                        image = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                         label="Degraded photo (drop, paste or click)", height=400, elem_id="input-image")
                        with gr.Row():
                            choice = gr.Dropdown(handlers.GUIDANCE_CHOICES, value="auto", label="Degradation",
                                                 info="detected automatically, or chosen / described by you")
                            tiling = gr.Radio(handlers.TILING_CHOICES, value="auto", label="Tiling",
                                              info="Auto: 512 px tiles above 1 MP")
                        text = gr.Textbox(label="Describe the degradation", placeholder="remove the fog",
                                          visible=False, elem_id="guidance-text")
                        run = gr.Button("Restore", variant="primary", elem_id="restore-button")
                        _examples(config, image)
                    with gr.Column(scale=7):
                        slider = gr.ImageSlider(label="Before / after (drag the handle)", type="pil", format="png",
                                                height=400, interactive=False, elem_id="before-after")
                        summary = gr.Markdown("Drop a photo on the left to restore it.", elem_id="restore-summary")
                        download = gr.DownloadButton("Download full-resolution PNG", interactive=False, size="md",
                                                     icon=None, elem_id="download-button")
                        chart = gr.Plot(label="Detected degradation", elem_id="degradation-chart", show_label=False)
            with gr.Tab("Unfolding", id="unfolding") as unfolding_tab:
                gr.Markdown(UNFOLDING_HELP, elem_classes="explain")
                with gr.Row(equal_height=True):
                    trace_note = gr.Markdown(handlers.Session().trace_note, elem_id="unfolding-note")
                    record = gr.Button("Show the stages", size="sm", scale=0, min_width=160, elem_id="record-stages")
                gallery = gr.Gallery(label="The eight stages (estimate after the proximal step); click one",
                                     columns=8, height=175, object_fit="contain", allow_preview=False, buttons=[],
                                     elem_id="stage-gallery")
                with gr.Row():
                    prev = gr.Button("◀ Previous stage", size="sm", scale=1)
                    stage = gr.Slider(1, 8, value=1, step=1, label="Stage", scale=4, elem_id="stage-slider")
                    nxt = gr.Button("Next stage ▶", size="sm", scale=1)
                stage_text = gr.Markdown(elem_id="stage-text")
                with gr.Row():
                    grad_img = gr.Image(label="After the gradient step  z", height=260, interactive=False, format="png")
                    prox_img = gr.Image(label="After the proximal step  x", height=260, interactive=False, format="png")
                    corr_img = gr.Image(label="Correction  |r·Φᵀ(Φx − y)|", height=260, interactive=False, format="png")
                with gr.Row():
                    weights_plot = gr.Plot(label="Retrieval weights", show_label=False)
                    change_plot = gr.Plot(label="Change per stage", show_label=False)
            with gr.Tab("Embedding atlas", id="atlas") as atlas_tab:
                gr.Markdown(ATLAS_HELP, elem_classes="explain")
                atlas_note = gr.Markdown("Open this tab to draw the maps.", elem_id="atlas-note")
                with gr.Row():
                    before_plot = gr.Plot(label="Before fine-tuning", elem_id="atlas-before", show_label=False)
                    after_plot = gr.Plot(label="After fine-tuning", elem_id="atlas-after", show_label=False)

        detail = [grad_img, prox_img, corr_img, stage_text, weights_plot, change_plot]
        demo.load(holder.status, None, status, api_name="status", concurrency_id="model",
                  api_description="What model is loaded, or why none is.")
        model.change(lambda m: holder.status(m), model, status, api_name="model_status",
                     api_visibility="undocumented", concurrency_id="model")
        choice.change(lambda c: gr.Textbox(visible=c == "text"), choice, text, api_name="toggle_text",
                      api_visibility="undocumented", queue=False)
        # progress is a note in the summary (handlers.restore_steps), and gradio's own display is
        # minimal: its overlay and loader animate on every frame while up, and a browser on the
        # same 2-core machine took up to half a core from the network drawing them
        gr.on([run.click, image.upload], _message(restore), [image, choice, text, tiling, model],
              [slider, chart, summary, download, session], api_name="restore", concurrency_id="model",
              concurrency_limit=config.concurrency, preprocess=False, show_progress="minimal",
              show_progress_on=[summary]).success(
            unfolding_waiting, session, [download, gallery, trace_note, stage] + detail, api_name="unfolding_waiting",
            api_visibility="undocumented", queue=False)
        gr.on([unfolding_tab.select, record.click], unfolding, session, [gallery, trace_note, stage] + detail,
              api_name="unfolding", api_visibility="undocumented", concurrency_id="model")
        stage.release(go_to, [session, stage], [stage] + detail, api_name="stage", api_visibility="undocumented")
        prev.click(lambda s, i: go_to(s, i - 1), [session, stage], [stage] + detail, api_name="previous_stage",
                   api_visibility="undocumented")
        nxt.click(lambda s, i: go_to(s, i + 1), [session, stage], [stage] + detail, api_name="next_stage",
                  api_visibility="undocumented")
        gallery.select(on_select, session, [stage] + detail, api_name="select_stage", api_visibility="undocumented")
        atlas_tab.select(lambda s, m: handlers.atlas_figures(book.atlas(m), s), [session, model],
                         [before_plot, after_plot, atlas_note], api_name="atlas", api_visibility="undocumented",
                         concurrency_id="atlas").then(
            lambda s, m: handlers.atlas_figures(book.atlas(m), s, holder, project=True), [session, model],
            [before_plot, after_plot, atlas_note], api_name="atlas_project", api_visibility="undocumented",
            concurrency_id="model")
    demo.queue(max_size=config.queue_size, default_concurrency_limit=config.concurrency)
    demo.studio_holder, demo.studio_atlas, demo.studio_atlases = holder, atlas, book  # for tests and benchmarks
    return demo


def _examples(config: AppConfig, image: gr.Image) -> None:
    """The degraded samples shipped in assets/examples (one per degradation type), if present."""
    folder = Path(config.examples_dir)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if files:
        gr.Examples([[str(p)] for p in files], inputs=[image], examples_per_page=8, cache_examples=False,
                    label="Examples: " + ", ".join(_example_label(p.stem) for p in files) + " (click one, then Restore)")


def _example_label(stem: str) -> str:
    """"3_noise_50" -> "Noise σ=50" (make_examples names files <n>_<degradation>)."""
    name = stem.split("_", 1)[-1]
    return plots.DISPLAY.get(name, name.replace("_", " "))
