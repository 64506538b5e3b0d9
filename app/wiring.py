"""How the studio's page is connected to its handlers: each ``wire_*`` function attaches the events
of one part of the page (header, Restore tab, Unfolding tab, Atlas tab) made by :mod:`app.ui` to the
plain functions of :mod:`app.handlers`, running them in the model's line (:mod:`app.jobs`) and turning
the errors a user can act on into one-line messages."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from core.one_by_one import ALL_IN_ONE, ONE_BY_ONE

from . import handlers, views
from .atlas_photos import AtlasBook
from .config import AppConfig
from .jobs import Cancelled, Job
from .state import ModelHolder, ModelUnavailableError
from .steering import contact_sheet
from .uploads import UploadError, check_upload, load_upload


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


def _failure(exc: BaseException) -> tuple[str, str] | None:
    """(title, one line) for an error a user can act on; None for a bug (raised as it is)."""
    if isinstance(exc, ModelUnavailableError):
        return "Model missing", f"Restoration weights are not available: {exc}"
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return "Cannot restore this image", str(exc)
    if isinstance(exc, MemoryError):
        return "Cannot restore this image", "the server ran out of memory on this image: try a smaller one, or tiling 256 px"
    return None


def _session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def wire_header(demo: gr.Blocks, holder: ModelHolder, header: SimpleNamespace, mode: gr.Radio,
                ensemble: gr.Radio) -> None:
    def show_mode(model):
        """The Mode control, for a model with one-by-one specialists only, set to one-by-one (its
        default, :attr:`core.Restorer.default_mode`); else hidden, all-in-one. The Self-ensemble
        control is set to the model's default (:attr:`core.Restorer.default_ensemble`)."""
        types = holder.specialist_types(model)
        passes = gr.Radio(value=holder.default_ensemble(model))
        if not types:
            return gr.Radio(visible=False, value=ALL_IN_ONE), passes
        return gr.Radio(visible=True, value=ONE_BY_ONE, info=f"specialists: {', '.join(t.replace('_', ' ') for t in types)}; "
                                           "other types go to the all-in-one network"), passes

    shown = dict(fn=show_mode, inputs=header.model, outputs=[mode, ensemble], api_visibility="undocumented",
                 concurrency_id="model")
    demo.load(holder.status, None, header.status, api_name="status", concurrency_id="model",
              api_description="What model is loaded, or why none is.").then(api_name="mode_choice", **shown)
    header.model.change(lambda m: holder.status(m), header.model, header.status, api_name="model_status",
                        api_visibility="undocumented", concurrency_id="model").then(
        api_name="mode_choice_model", **shown)

    def closed(request: gr.Request):
        """The tab was closed: its restores stop at their next tile or stage."""
        holder.line.cancel_session(_session_of(request), "the page was closed")
    demo.unload(closed)


def wire_restore(demo: gr.Blocks, holder: ModelHolder, header: SimpleNamespace, page: SimpleNamespace,
                 stages: SimpleNamespace, session: gr.State) -> None:
    config = holder.config
    keep = gr.skip()

    def restore_page(image, degradation, text, tiling, model, mode, ensemble, request: gr.Request = None):
        """The page's restore: notes while it waits and runs, then the result; a refusal or a cancel is
        a line in the summary (a bad file is also taken off the input, so no broken image stays)."""
        path = upload_path(image)
        running = gr.Button(visible=True)
        try:
            for step in handlers.restore_steps(holder, path, degradation, text, tiling, model=model,
                                               session=_session_of(request), mode=mode, ensemble=ensemble):
                if isinstance(step, str):
                    yield keep, keep, step, keep, keep, keep, running, keep, keep
                else:
                    download = gr.DownloadButton(value=step.png_path, interactive=True)
                    yield ((step.before, step.png_path), step.chart, step.summary, download, step.session,
                           step.steering_note, gr.Button(visible=False), gr.Button(interactive=True), keep)
        except Cancelled as exc:
            yield (keep, keep, f"**Cancelled**: {exc}. Nothing was restored; the last result, if any, is kept.",
                   keep, keep, keep, gr.Button(visible=False), keep, keep)
        except Exception as exc:   # noqa: BLE001  (a bug is raised again below)
            failure = _failure(exc)
            if failure is None:
                raise
            title, line = failure
            bad_file = path is not None and not _readable(path, config)
            yield (keep, keep, f"⚠️ **{title}:** {line}", keep, keep, "", gr.Button(visible=False), keep,
                   None if bad_file else keep)

    def restore_api(image, degradation="auto", text="", tiling="auto", model=None, mode=None, ensemble=None,
                    request: gr.Request = None):
        """Restore an image. degradation: auto | uniform | noise_15 | noise_25 | noise_50 | haze | rain | blur |
        low_light | text (then `text` describes the degradation); tiling: auto | off | 256 | 512; model: one
        of the models the page lists (default: the studio's default); mode: all-in-one | one-by-one (the
        model's specialist for the image's degradation type, where it has one; the default for a model
        with specialists); ensemble: none | mirror | flips | dihedral (the average of 2, 4 or 8 flipped and
        turned passes, 2x, 4x or 8x the time; default: the model's, mirror for vlunet-tiny). Returns the restored PNG
        (full resolution), details (JSON: detected probabilities, unsure, steering, what the words read as,
        mode, the network that restored it, the ensemble) and a summary. An animated GIF/PNG/WebP is restored from its
        first frame."""
        try:
            for step in handlers.restore_steps(holder, upload_path(image), degradation, text, tiling, model=model,
                                               session=_session_of(request), mode=mode, ensemble=ensemble):
                if isinstance(step, str):
                    yield keep, keep, step, keep
                else:
                    yield step.png_path, step.details, step.summary, step.session
        except Cancelled as exc:
            raise gr.Error(f"cancelled: {exc}", title="Cancelled", print_exception=False) from None
        except Exception as exc:   # noqa: BLE001
            failure = _failure(exc)
            if failure is None:
                raise
            raise gr.Error(failure[1], title=failure[0], duration=None, print_exception=False) from None

    def cancel(request: gr.Request = None):
        """Cancel this page's restores (and contact sheet): they stop at the next tile or stage."""
        holder.line.cancel_session(_session_of(request), "cancelled by you")

    def unfolding_reset(state):
        """After a restore: clear the Unfolding view (its stages are recorded when the tab is opened)."""
        note = (state or handlers.Session()).trace_note
        return ([], note, 1) + views.stage_detail(state, 1)

    def sheet(state, request: gr.Request = None):
        """The last restored photo under every class's guidance (and auto, uniform; one-by-one too when
        the model has specialists)."""
        if state is None or not state.input_path:
            return gr.Gallery(visible=True, value=[], label="Restore a photo first")
        job = Job(session=_session_of(request), label="contact sheet")

        def work():
            image, _ = load_upload(state.input_path, config)
            return contact_sheet(holder.get(state.model), image, job)
        try:
            items = holder.line.submit(job, work).result()
        except Cancelled as exc:
            raise gr.Error(str(exc), title="Cancelled", print_exception=False) from None
        except (ValueError, FileNotFoundError, ModelUnavailableError) as exc:
            raise gr.Error(str(exc), title="Cannot make the contact sheet", print_exception=False) from None
        return gr.Gallery(visible=True, value=items, columns=max(10, len(items)))

    inputs = [page.image, page.choice, page.text, page.tiling, header.model, page.mode, page.ensemble]
    outputs = [page.slider, page.chart, page.summary, page.download, session, page.steering, page.cancel,
               page.sheet_button, page.image]
    # progress is a note in the summary (handlers.restore_steps), and gradio's own display is
    # minimal: its overlay and loader redraw on every frame, CPU a browser on the same machine takes
    # from the network (docs/benchmarks.md). Restores wait in the model's line (app.jobs), not in
    # gradio's queue, so that a waiting page can say where it is.
    run = dict(concurrency_id="restore", concurrency_limit=config.queue_size, preprocess=False,
               show_progress="minimal", show_progress_on=[page.summary], api_visibility="undocumented")
    reset = dict(fn=unfolding_reset, inputs=session, outputs=[stages.gallery, stages.note, stages.stage] + stages.detail,
                 api_visibility="undocumented", queue=False)
    gr.on([page.run.click, page.image.upload], restore_page, inputs, outputs, api_name="restore_page", **run).success(
        api_name="unfolding_reset", **reset)
    if page.examples is not None:   # an example restores as soon as it is picked
        page.examples.load_input_event.then(restore_page, inputs, outputs, api_name="restore_example", **run).success(
            api_name="unfolding_reset_example", **reset)
    page.api.button.click(restore_api, inputs, [page.api.restored, page.api.details, page.api.summary, session],
                          api_name="restore", concurrency_id="restore", concurrency_limit=config.queue_size,
                          preprocess=False)
    page.cancel.click(cancel, None, None, api_name="cancel", api_visibility="undocumented", queue=False)
    page.choice.change(lambda c: gr.Textbox(visible=c == "text"), page.choice, page.text, api_name="toggle_text",
                       api_visibility="undocumented", queue=False)
    page.sheet_button.click(sheet, session, page.sheet, api_name="contact_sheet", api_visibility="undocumented",
                            concurrency_id="restore", concurrency_limit=config.queue_size)


def _readable(path: str, config: AppConfig) -> bool:
    try:
        check_upload(path, config)
        return True
    except UploadError:
        return False


def wire_unfolding(holder: ModelHolder, stages: SimpleNamespace, session: gr.State) -> None:
    def unfolding(state, request: gr.Request = None):
        """Record (once per restore, in the model's line) and draw the eight stages of the last restored image."""
        job = Job(session=_session_of(request), label="unfolding")
        try:
            holder.line.submit(job, views.record_stages, holder, state, job).result()
        except Cancelled:
            pass
        gallery, _, _, note = views.unfolding_overview(state)
        return (gallery, note, 1) + views.stage_detail(state, 1)

    def go_to(state, index):
        n = len(state.stages) if state and state.stages else 8
        index = min(max(int(index), 1), n)
        return (index, gr.Gallery(selected_index=index - 1)) + views.stage_detail(state, index)

    def on_select(state, evt: gr.SelectData):
        return go_to(state, evt.index + 1)

    walk = [stages.stage, stages.gallery] + stages.detail
    gr.on([stages.tab.select, stages.record.click], unfolding, session,
          [stages.gallery, stages.note, stages.stage] + stages.detail, api_name="unfolding",
          api_visibility="undocumented", concurrency_id="model")
    stages.stage.release(go_to, [session, stages.stage], walk, api_name="stage", api_visibility="undocumented")
    stages.prev.click(lambda s, i: go_to(s, i - 1), [session, stages.stage], walk, api_name="previous_stage",
                      api_visibility="undocumented")
    stages.nxt.click(lambda s, i: go_to(s, i + 1), [session, stages.stage], walk, api_name="next_stage",
                     api_visibility="undocumented")
    stages.gallery.select(on_select, session, walk, api_name="select_stage", api_visibility="undocumented")


def wire_atlas(holder: ModelHolder, book: AtlasBook, header: SimpleNamespace, maps: SimpleNamespace,
               session: gr.State) -> None:
    def project(state, model, request: gr.Request = None):
        """Both maps with the last restored image placed (its embedding computed in the model's line)."""
        job = Job(session=_session_of(request), label="atlas")
        return holder.line.submit(job, views.atlas_figures, book.atlas(model), state, holder, True).result()

    outputs = [maps.before, maps.after, maps.note]
    maps.tab.select(lambda s, m: views.atlas_figures(book.atlas(m), s), [session, header.model], outputs,
                    api_name="atlas", api_visibility="undocumented", concurrency_id="atlas").then(
        project, [session, header.model], outputs, api_name="atlas_project", api_visibility="undocumented",
        concurrency_id="model")
