"""Layout of the studio: ``build_demo()`` makes the Blocks and wires them (:mod:`app.wiring`), loads nothing.

Endpoints (``gradio_client``; every event has an ``api_name``; docs/studio.md has examples):

* ``/restore`` (``image``, ``degradation="auto"``, ``text=""``, ``tiling="auto"``, ``model``,
  ``mode=None``, ``ensemble=None``) -> (``restored``: the full-resolution PNG, ``details``: JSON with the
  detected probabilities, whether the detector is unsure, the steering, what the words read as, the
  mode, the network that restored it and the ensemble, ``summary``: Markdown).
  ``degradation``: "auto", "uniform", a canonical name ("noise_15", "noise_25", "noise_50", "haze",
  "rain", "blur", "low_light") or "text" (then ``text`` is the description, e.g. "remove the fog");
  ``tiling``: "auto", "off", "256", "512"; ``model``: one the page lists (default: the studio's);
  ``mode``: "all-in-one" or "one-by-one" (the model's specialist for the image's degradation type,
  where it has one; :mod:`core.one_by_one`); None: the model's default, one-by-one where it has
  specialists; ``ensemble``: "none", "mirror", "flips" or "dihedral" (the average of 2, 4 or 8
  flipped and turned passes, :mod:`core.ensemble`); None: the model's default, "mirror" for
  ``vlunet-tiny``.
  Any PIL-readable photo (JPEG, PNG, WebP, GIF, BMP, TIFF; 8 or 16 bit, palette, CMYK, alpha);
  EXIF orientation is applied, alpha carried over, an animated file restored from its first frame
  (the summary says so). Refused with a one-line reason before any pixel is decoded: empty files,
  non-images, SVG, more than ``max_pixels`` (decompression bombs included), sides more than
  ``max_aspect`` apart; damaged or truncated data is refused when decoding. The event streams:
  ``Client.predict`` returns the final result, while ``Client.submit`` also yields the notes shown
  while it runs (its place in the line while it waits, then "Restoring 512×512…", then the tiles
  done; the other outputs are left as they were). A client that goes away stops its restore at the
  next tile or stage (:mod:`app.jobs`).
* ``/status`` -> what model is loaded (or why none is); the page's own events (its restore, Cancel,
  the contact sheet, the Unfolding and atlas views) are undocumented.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import gradio as gr

import core

from . import handlers, plots
from .atlas import Atlas, default_table_path
from .atlas_photos import AtlasBook
from .config import ROOT, AppConfig
from .models import model_choices
from .state import ModelHolder
from .wiring import wire_atlas, wire_header, wire_restore, wire_unfolding

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CSS = """
.gradio-container {max-width: 1400px !important; margin: auto;}
#studio-title h2 {margin: 0;}
#studio-title p, #studio-status p {margin: 0;}
#studio-status {font-size: 0.9em; opacity: 0.85;}
#stage-gallery .caption-label {font-size: 0.78em; white-space: normal; overflow: visible; text-overflow: clip;}
#stage-gallery .thumbnail-item.selected, #stage-gallery button.selected {outline: 3px solid #e6550d;}
#restore-summary p {margin: 0.2em 0;}
.explain {font-size: 0.9em; opacity: 0.9;}
#before-after:focus-within {outline: 2px solid #4292c6;}
@media (max-width: 700px) {#studio-tabs button[role=tab] {font-size: 0.85em; padding: 4px 6px;}}
"""
# The compare view's handle follows the arrow keys (Shift: larger steps) once the view has focus
# (Tab or a click), Home/End go to either side: gradio's ImageSlider takes only the mouse. It is
# moved as a drag would move it, with mouse events on its handle.
KEYS_JS = """
() => {
  document.addEventListener('keydown', (e) => {
    const view = e.target.closest && e.target.closest('#before-after');
    if (!view || !['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    const box = view.querySelector('img').getBoundingClientRect();
    const now = parseFloat(view.dataset.handle || '50');
    const step = e.shiftKey ? 10 : 2;
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? 100 :
        Math.min(100, Math.max(0, now + (e.key === 'ArrowLeft' ? -step : step)));
    view.dataset.handle = next;
    // gradio's ImageSlider drags its handle (.outer) with d3-drag: a left-button mousedown on the
    // handle, then mousemove / mouseup on the window the event names as its view.
    const handle = view.querySelector('.outer');
    if (!handle) return;
    const at = (p) => ({clientX: box.left + box.width * p / 100, clientY: box.top + box.height / 2,
                        bubbles: true, cancelable: true, view: window, button: 0});
    handle.dispatchEvent(new MouseEvent('mousedown', at(now)));
    window.dispatchEvent(new MouseEvent('mousemove', at(next)));
    window.dispatchEvent(new MouseEvent('mouseup', at(next)));
    view.setAttribute('aria-valuenow', String(next));
    e.preventDefault();
  });
  const mark = () => {
    const view = document.querySelector('#before-after');
    if (view && !view.hasAttribute('tabindex')) {
      view.setAttribute('tabindex', '0');
      view.setAttribute('role', 'slider');
      view.setAttribute('aria-label', 'Before / after: arrow keys move the handle');
      view.setAttribute('aria-valuemin', '0'); view.setAttribute('aria-valuemax', '100');
      view.setAttribute('aria-valuenow', '50');
    }
  };
  new MutationObserver(mark).observe(document.body, {childList: true, subtree: true});
  mark();
}
"""
INTRO = ("## VLU-Net Studio\nAll-in-one restoration with a vision-language deep unfolding network (VLU-Net, "
         "CVPR 2025): drop a noisy, hazy, rainy, blurred or dark photo, see what was detected, steer it with words, "
         "look inside the eight unfolding stages.")
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
    "by the degradation that was synthesised. Prompts are plotted in the fine-tuned map. The shipped encoder's "
    "maps are precomputed; another encoder's are fitted on first opening (then kept).")


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
                theme=gr.themes.Soft(), css=CSS, js=KEYS_JS, footer_links=["api", "gradio"])


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
    with gr.Blocks(title="VLU-Net Studio") as demo:
        session = gr.State(None)
        header = _header(config)
        with gr.Tabs(elem_id="studio-tabs"):
            page = _restore_tab(config)
            stages = _unfolding_tab()
            maps = _atlas_tab()
        wire_header(demo, holder, header, page.mode, page.ensemble)
        wire_restore(demo, holder, header, page, stages, session)
        wire_unfolding(holder, stages, session)
        wire_atlas(holder, book, header, maps, session)
    demo.queue(max_size=config.queue_size, default_concurrency_limit=config.concurrency)
    demo.studio_holder, demo.studio_atlas, demo.studio_atlases = holder, atlas, book  # for tests and benchmarks
    return demo


# ----- layout ---------------------------------------------------------------------------------------
def _header(config: AppConfig) -> SimpleNamespace:
    with gr.Row(equal_height=True):
        with gr.Column(scale=8, min_width=400):
            gr.Markdown(INTRO, elem_id="studio-title")
            status = gr.Markdown("Checking the model…", elem_id="studio-status")
        models = model_choices(config)
        model = gr.Dropdown(models, value=models[0][1], label="Model", scale=0, min_width=260,
                            elem_id="model-choice", visible=len(models) > 1)
    return SimpleNamespace(status=status, model=model)


def _restore_tab(config: AppConfig) -> SimpleNamespace:
    """Result first: the input and its controls on the left, the compare view in the middle, what
    was detected, the steering and the download on the right (all above the fold at 1400×900)."""
    with gr.Tab("Restore", id="restore"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=280):
                image = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], height=190,
                                 label="Degraded photo (drop, paste or click)", elem_id="input-image")
                choice = gr.Dropdown(handlers.GUIDANCE_CHOICES, value="auto", label="Degradation",
                                     info="detected, or chosen / described by you", elem_id="guidance-choice")
                text = gr.Textbox(value="", label="Describe the degradation", placeholder="remove the fog",
                                  visible=False, elem_id="guidance-text")
                mode = gr.Radio(handlers.MODE_CHOICES, value=None, label="Mode", visible=False,
                                elem_id="mode-choice")   # shown for a model with specialists (wire_header)
                tiling = gr.Radio(handlers.TILING_CHOICES, value="auto", label="Tiling", info="Auto: by memory, above 1 MP")
                ensemble = gr.Radio(handlers.ENSEMBLE_CHOICES, value=None, label="Self-ensemble",
                                    info="average of flipped passes: cleaner, 2×, 4× or 8× the time",
                                    elem_id="ensemble-choice")   # set to the model's default (wire_header)
                with gr.Row():
                    run = gr.Button("Restore", variant="primary", elem_id="restore-button", min_width=100)
                    cancel = gr.Button("Cancel", variant="stop", visible=False, elem_id="cancel-button", min_width=100)
                examples = _examples(config, image)
            with gr.Column(scale=6, min_width=420):
                slider = gr.ImageSlider(label="Before / after: drag the handle (or arrow keys), scroll to zoom",
                                        type="pil", format="png", height=520, max_height=520, interactive=False,
                                        elem_id="before-after")
                summary = gr.Markdown("Drop a photo on the left, or pick an example, to restore it.",
                                      elem_id="restore-summary", label="summary")
            with gr.Column(scale=3, min_width=280):
                chart = gr.Plot(label="Detected degradation", elem_id="degradation-chart", show_label=False)
                steering = gr.Markdown("", elem_id="steering-note")
                download = gr.DownloadButton("Download full-resolution PNG", interactive=False, size="md",
                                             icon=None, elem_id="download-button")
                sheet_button = gr.Button("Compare every guidance (contact sheet)", size="md", interactive=False,
                                         elem_id="contact-button")
        sheet = gr.Gallery(label="The same photo under every guidance (long side 256 px): what d_I changes",
                           columns=10, height=200, object_fit="contain", allow_preview=True, visible=False,
                           elem_id="contact-sheet")
        # the API's own outputs (the page shows the results above): named, never drawn
        api = SimpleNamespace(button=gr.Button(visible=False), restored=gr.File(label="restored", visible=False),
                              details=gr.JSON(label="details", visible=False),
                              summary=gr.Markdown(label="summary", visible=False))
    return SimpleNamespace(image=image, choice=choice, text=text, mode=mode, tiling=tiling, ensemble=ensemble,
                           run=run, cancel=cancel,
                           examples=examples, slider=slider, summary=summary, chart=chart, steering=steering,
                           download=download, sheet_button=sheet_button, sheet=sheet, api=api)


def _unfolding_tab() -> SimpleNamespace:
    with gr.Tab("Unfolding", id="unfolding") as tab:
        gr.Markdown(UNFOLDING_HELP, elem_classes="explain")
        with gr.Row(equal_height=True):
            note = gr.Markdown(handlers.Session().trace_note, elem_id="unfolding-note")
            record = gr.Button("Show the stages", size="sm", scale=0, min_width=160, elem_id="record-stages")
        gallery = gr.Gallery(label="The eight stages (estimate after the proximal step); click one",
                             columns=8, height=190, object_fit="contain", allow_preview=False, buttons=[],
                             elem_id="stage-gallery")
        with gr.Row():
            prev = gr.Button("◀ Previous stage", size="sm", scale=1)
            stage = gr.Slider(1, 8, value=1, step=1, label="Stage", scale=4, elem_id="stage-slider")
            nxt = gr.Button("Next stage ▶", size="sm", scale=1)
        stage_text = gr.Markdown(elem_id="stage-text")
        with gr.Row():
            kw = dict(height=230, interactive=False, format="png")
            before = gr.Image(label="Input y", elem_id="stage-input", **kw)
            grad_img = gr.Image(label="Gradient step: z", elem_id="stage-z", **kw)
            prox_img = gr.Image(label="Proximal step: x", elem_id="stage-x", **kw)
            corr_img = gr.Image(label="Correction |r·Φᵀ(Φx−y)|", elem_id="stage-correction", **kw)
            after = gr.Image(label="Output", elem_id="stage-output", **kw)
        with gr.Row():
            weights_plot = gr.Plot(label="Retrieval weights", show_label=False)
            change_plot = gr.Plot(label="Change per stage", show_label=False)
    detail = [before, grad_img, prox_img, corr_img, after, stage_text, weights_plot, change_plot]
    return SimpleNamespace(tab=tab, note=note, record=record, gallery=gallery, prev=prev, stage=stage, nxt=nxt,
                           detail=detail)


def _atlas_tab() -> SimpleNamespace:
    with gr.Tab("Atlas", id="atlas") as tab:
        gr.Markdown(ATLAS_HELP, elem_classes="explain")
        note = gr.Markdown("Open this tab to draw the maps.", elem_id="atlas-note")
        with gr.Row():
            before = gr.Plot(label="Before fine-tuning", elem_id="atlas-before", show_label=False)
            after = gr.Plot(label="After fine-tuning", elem_id="atlas-after", show_label=False)
    return SimpleNamespace(tab=tab, note=note, before=before, after=after)



def _examples(config: AppConfig, image: gr.Image) -> gr.Examples | None:
    """The degraded samples shipped in assets/examples (one per degradation type), each labelled
    with its degradation; clicking one restores it."""
    folder = Path(config.examples_dir)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not files:
        return None
    return gr.Examples([[str(p)] for p in files], inputs=[image], examples_per_page=8, cache_examples=False,
                       example_labels=[_example_label(p.stem) for p in files], label="Examples (click one to restore it)")


def _example_label(stem: str) -> str:
    """"3_noise_50" -> "Noise σ=50" (make_examples names files <n>_<degradation>)."""
    name = stem.split("_", 1)[-1]
    return plots.DISPLAY.get(name, name.replace("_", " "))
