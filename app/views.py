"""What the Unfolding and atlas tabs draw, from a session's last restore (plain functions, no gradio).

Unfolding (paper Sec. 3.1-3.2): the eight stages recorded by one more traced pass, each with the
input and the output beside it, the degradation keys named by the class whose prompt retrieves
each most (:func:`key_roles`), and a colour bar on the correction map. Atlas (Sec. 3.3): both
UMAP maps with the last restored image placed as a star.
"""
from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw

import core
from core.guidance import degradation_vector, network_convention
from core.one_by_one import ALL_IN_ONE, specialist_label

from . import plots
from .atlas import Atlas, AtlasTableError, AtlasUnavailableError
from .features import StageView, compact_stages, render_stage
from .handlers import Session
from .state import ModelHolder
from .uploads import UploadError, load_upload

THUMB = 256   # long side of the input and output drawn beside each stage
EMPTY = "Nothing to show yet: restore a photo (untiled, up to 1 MP), then press *Show the stages*."


def network_named(restorer: core.Restorer, label: str) -> torch.nn.Module:
    """The network of ``restorer`` that ``label`` (``RestoreResult.network``) names: a specialist
    ("noise specialist"), else the all-in-one network."""
    named = {specialist_label(kind): net for kind, net in getattr(restorer, "specialists", {}).items()}
    return named.get(label, restorer.network)


def key_roles(restorer: core.Restorer, stages: int = 8, network: torch.nn.Module | None = None
              ) -> tuple[list[str], np.ndarray] | None:
    """Which class retrieves each degradation key most: (one name per key, by the weights averaged
    over the stages; the stages x classes x keys weights). None without an encoder (no class prompts).
    ``network``: the one whose keys are read (None: the restorer's all-in-one network).

    Each stage retrieves ``softmax(Linear(d_I))`` over its key database (Sec. 3.2); with d_I a class's
    prompt vector (in the network's convention), the key a class weighs most is "its" key.
    """
    encoder, network = restorer.encoder, restorer.network if network is None else network
    if encoder is None or not hasattr(network, "stages"):
        return None
    with torch.no_grad():
        vectors = torch.stack([encoder.class_vector(label) for label in encoder.labels]).to(restorer.device)
        d = degradation_vector(vectors, network_convention(network))
        weights = np.stack([s.gdm.keys.weights(d, len(d)).float().cpu().numpy() for s in network.stages[:stages]])
    owners = weights.mean(0).argmax(0)
    return [plots.DISPLAY.get(encoder.labels[c], encoder.labels[c]) for c in owners], weights


def _thumb(path: str | None) -> np.ndarray | None:
    if not path:
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
            return np.asarray(image)
    except (OSError, ValueError):
        return None


def with_colour_bar(correction: np.ndarray) -> np.ndarray:
    """The correction map with a viridis colour bar on its right, labelled 0 (dark) to the 99th
    percentile of the stage's correction (bright; see :func:`app.features.colorize`)."""
    from .features import _VIRIDIS
    h = correction.shape[0]
    bar_w, label_w = max(8, h // 24), 44
    t = np.linspace(1, 0, h)[:, None] * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    colours = (_VIRIDIS[i] * (1 - (t - i)[..., None]) + _VIRIDIS[i + 1] * (t - i)[..., None]).astype(np.uint8)
    bar = np.repeat(colours, bar_w, axis=1)
    canvas = Image.new("RGB", (correction.shape[1] + 6 + bar_w + label_w, h), "white")
    canvas.paste(Image.fromarray(correction), (0, 0))
    canvas.paste(Image.fromarray(bar), (correction.shape[1] + 6, 0))
    draw = ImageDraw.Draw(canvas)
    x = correction.shape[1] + 6 + bar_w + 3
    draw.text((x, 2), "p99", fill="black")
    draw.text((x, h - 14), "0", fill="black")
    return np.asarray(canvas)


def record_stages(holder: ModelHolder, session: Session | None, job=None) -> list[StageView] | None:
    """The drawn stages of the session's last restore, recorded on first call (then kept).

    Runs the network once more on the same file with the same steering and mode and ``trace=True``
    (auto-detection gives the same d_I again, so the one-by-one mode picks the same specialist:
    the encoder is deterministic), pools and draws each stage (:func:`app.features.compact_stages`)
    and lets the full-size maps go. None, with ``session.trace_note`` saying why, when there is no
    restore, it was tiled, or the file is gone. Also keeps thumbnails of the input and output and
    the keys' roles (:func:`key_roles`, of the network that ran).
    ``job`` (:class:`app.jobs.Job`): checked before every stage.
    """
    from .jobs import cancel_points, networks_of

    if session is None or session.stages is not None or not session.traceable:
        return session.stages if session else None
    start = time.perf_counter()
    try:
        image, _ = load_upload(session.input_path, holder.config)
        restorer = holder.get(session.model)
        with cancel_points(networks_of(restorer), job):
            result = restorer.restore(image, degradation=session.degradation, tile=0, trace=True, mode=session.mode)
        session.stages = [render_stage(c) for c in compact_stages(result.stages)]
        network = result.network
        del result
        session.thumbs = _thumb(session.input_path), _thumb(session.output_path)
        roles = key_roles(restorer, len(session.stages), network_named(restorer, network))
        session.key_names = roles[0] if roles else None
    except (UploadError, FileNotFoundError) as exc:
        session.traceable = False
        session.trace_note = f"The last image cannot be read again ({exc}): restore it again to look inside."
        return None
    by = f" (by the {network})" if network != ALL_IN_ONE else ""
    session.trace_note = (f"The eight stages of the last restore{by}, recorded in {time.perf_counter() - start:.1f} s "
                          "(one more pass of the network with every stage's maps kept).")
    return session.stages


def stage_labels(stages: list[StageView]) -> list[str]:
    return [f"{s.index} {s.title}" for s in stages]


def unfolding_overview(session: Session | None) -> tuple[list, go.Figure, go.Figure, str]:
    """Gallery items (after-proximal thumbnail, caption) for all stages, the two stage plots, a note
    (the stages :func:`record_stages` drew; nothing is recorded here)."""
    if session is None or not session.stages:
        note = session.trace_note if session else Session().trace_note
        return [], plots.empty_figure("", 120), plots.empty_figure("", 120), note
    stages = session.stages
    gallery = [(s.after_proximal, s.caption) for s in stages]
    return (gallery, weights_figure(stages, None, session.key_names), changes_figure(stages, None), session.trace_note)


def weights_figure(stages: list[StageView], selected: int | None, key_names: list[str] | None = None) -> go.Figure:
    width = max(len(s.weights) for s in stages)
    matrix = np.stack([np.pad(s.weights, (0, width - len(s.weights))) for s in stages])
    return plots.weights_heatmap(matrix, stage_labels(stages), selected, key_names)


def changes_figure(stages: list[StageView], selected: int | None) -> go.Figure:
    return plots.stage_changes(stage_labels(stages), [s.change_gradient for s in stages],
                               [s.change_proximal for s in stages], [s.step for s in stages], selected)


def stage_detail(session: Session | None, index: int) -> tuple:
    """Stage ``index`` (1..8): the input, after-gradient, after-proximal, correction (with its colour
    bar) and output images, the stage's text, both plots. Without recorded stages: no images, the
    one note saying why, and blank plots."""
    if session is None or not session.stages:
        note = session.trace_note if session else Session().trace_note
        return (None, None, None, None, None, note, plots.empty_figure("", 120), plots.empty_figure("", 120))
    stages = session.stages
    i = min(max(int(index), 1), len(stages)) - 1
    s = stages[i]
    h, w = s.resolution
    top = int(np.argmax(s.weights))
    names = session.key_names
    key = f"key {top + 1}" + (f" (retrieved most by {names[top]})" if names and top < len(names) else "")
    text = (f"### Stage {s.index} of {len(stages)}: {s.title}\n"
            f"Level {s.level} · features {w}×{h}×{s.channels} · learned step **r = {s.step:.4g}** · "
            f"heaviest **{key}** ({s.weights[top]:.0%}) · the gradient step changes the estimate by "
            f"**{s.change_gradient:.1%}**, the proximal step by **{s.change_proximal:.1%}**.")
    before, after = session.thumbs or (None, None)
    return (before, s.after_gradient, s.after_proximal, with_colour_bar(s.correction), after, text,
            weights_figure(stages, i, names), changes_figure(stages, i))


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
            "Filled circles: validation photos, open circles: training photos. Diamonds: the class prompts' text "
            "embeddings after the text adapter, labelled by class; they sit apart from the photos (the modality gap "
            "of vision-language encoders: text and images fill different regions, so a class's prompts lie beside, "
            "not inside, its cluster), and what steers the network is which class's direction they point to.")
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
