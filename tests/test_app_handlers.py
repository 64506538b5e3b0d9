"""The studio's handlers as plain functions: uploads, restore, unfolding views, examples
(the one-by-one mode: test_app_one_by_one.py; the atlas: test_app_atlas.py)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import core
from app import handlers, plots, uploads, views
from app.config import AppConfig
from app.features import colorize, pca_basis, project_rgb
from app.state import ModelHolder, ModelUnavailableError, default_factory
from app.testing import tiny_restorer
from core.degradations import CANONICAL

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_thread_module")  # tiny images: one thread is faster on a shared CPU


def test_upload_limits_give_one_line_reasons(tmp_path, make_photo):
    cfg = AppConfig(max_pixels=3000, max_file_mb=0.001)
    with pytest.raises(uploads.UploadError, match="no image"):
        uploads.check_upload(None, cfg)
    with pytest.raises(uploads.UploadError, match="gone"):
        uploads.check_upload(str(tmp_path / "missing.png"), cfg)
    big = make_photo(tmp_path / "big.png", (80, 60))
    with pytest.raises(uploads.UploadError, match=r"MB; this studio accepts up to 0.001 MB"):
        uploads.check_upload(big, cfg)
    with pytest.raises(uploads.UploadError, match=r"80×60 = 0.0 megapixels.*up to 0.003 MP"):
        uploads.check_upload(big, AppConfig(max_pixels=3000))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(uploads.UploadError, match="not an image"):
        uploads.check_upload(str(text), AppConfig())
    info = uploads.check_upload(big, AppConfig())
    assert info.size == (80, 60) and info.format == "PNG" and not info.animated
    strip = make_photo(tmp_path / "strip.png", (99, 3))
    with pytest.raises(uploads.UploadError, match=r"99×3 pixels, its long side 33 times its short side.*32:1"):
        uploads.check_upload(strip, AppConfig())
    assert uploads.check_upload(strip, AppConfig(max_aspect=40)).size == (99, 3)


def test_guidance_and_tiling_arguments():
    assert handlers.guidance_argument("auto", "ignored") == "auto"
    assert handlers.guidance_argument("rain", "") == "rain"
    assert handlers.guidance_argument("text", "  remove the fog ") == "remove the fog"
    with pytest.raises(handlers.UploadError, match="remove the fog"):
        handlers.guidance_argument("text", "  ")
    with pytest.raises(handlers.UploadError, match="guidance must be one of auto, uniform, noise_15"):
        handlers.guidance_argument("remove the fog", "")  # a description goes in `text`, with choice "text"
    with pytest.raises(handlers.UploadError, match="at most 300 characters"):
        handlers.guidance_argument("text", "fog " * 1000)
    with pytest.raises(handlers.UploadError, match="tiling must be"):
        handlers.tile_argument(["512"])
    assert [handlers.tile_argument(t) for t in ("auto", "off", "256", "512")] == [None, 0, 256, 512]
    with pytest.raises(handlers.UploadError, match="multiple of 8"):
        handlers.tile_argument("100")
    assert [handlers.mode_argument(m) for m in (None, "", "all-in-one", " one-by-one ")] == \
        [None, None, "all-in-one", "one-by-one"]       # None: the model's default mode
    with pytest.raises(handlers.UploadError, match="mode must be one of all-in-one, one-by-one; got 'specialists'"):
        handlers.mode_argument("specialists")


def test_restore_keeps_size_saves_png_and_records_eight_stages_on_demand(holder, tmp_path, make_photo):
    path = make_photo(tmp_path / "scene.png")
    calls = []
    out = handlers.restore(holder, path, "auto", "", "auto", progress=lambda f, desc="": calls.append((f, desc)))
    expected = holder.get().restore(path).image
    assert out.after.size == Image.open(out.before).size == (37, 31)
    saved = np.asarray(Image.open(out.png_path))
    assert np.array_equal(saved, np.asarray(expected)) and np.array_equal(saved, np.asarray(out.after))
    assert out.summary.startswith("**Restored 37×31**") and "auto-detected" in out.summary
    assert calls and all(0 <= f <= 1 for f, _ in calls)
    bars = out.chart.data[0]
    assert len(bars.x) == 7 and abs(sum(bars.x) - 1) < 1e-4
    assert out.session.stages is None and out.session.traceable  # the restore itself records no trace
    stages = views.record_stages(holder, out.session)
    assert views.record_stages(holder, out.session) is stages is out.session.stages  # recorded once
    assert "recorded in" in out.session.trace_note
    assert [s.index for s in stages] == list(range(1, 9))
    for s in stages:
        assert s.after_gradient.dtype == np.uint8 and s.after_gradient.shape == s.after_proximal.shape
        assert s.after_gradient.shape[2] == 3 and s.correction.shape[:2] == s.after_proximal.shape[:2]
        assert abs(float(s.weights.sum()) - 1) < 1e-4 and s.change_gradient >= 0 and s.change_proximal >= 0
    assert stages[3].resolution[0] < stages[0].resolution[0]  # the latent stage is coarser


def test_restore_steps_note_the_start_then_tiles_then_give_the_outcome(tmp_path, make_photo):
    restorer, note = tiny_restorer()
    slow = ModelHolder(AppConfig(), lambda cfg: (restorer, note))
    small = make_photo(tmp_path / "small.png")
    with pytest.raises(handlers.UploadError, match="not an image"):   # refused before any note
        (tmp_path / "bad.png").write_text("no")
        next(handlers.restore_steps(slow, str(tmp_path / "bad.png")))
    with pytest.raises(handlers.UploadError, match="tiling must be"):
        next(handlers.restore_steps(slow, small, tiling="100"))
    steps = list(handlers.restore_steps(slow, small))
    assert steps[0] == "Restoring 37×31… (loading the model first)" and steps[-1] is not steps[0]
    outcome = steps[-1]
    assert isinstance(outcome, handlers.RestoreOutcome) and outcome.summary.startswith("**Restored 37×31**")
    assert np.array_equal(np.asarray(outcome.after), np.asarray(restorer.restore(small).image))
    # a tiled restore reports tiles as they finish; the model runs on the holder's one thread
    big = make_photo(tmp_path / "big.png", (300, 200))
    threads = set()
    original = restorer.restore

    def slow_restore(*args, progress=None, **kwargs):
        threads.add(threading.current_thread().name)

        def paced(done, total):
            time.sleep(0.05)
            progress(done, total)
        return original(*args, progress=paced, **kwargs)
    restorer.restore = slow_restore
    try:
        steps = list(handlers.restore_steps(slow, big, tiling="64", poll=0.01))
    finally:
        restorer.restore = original
    notes = [s for s in steps if isinstance(s, str)]
    assert notes[0] == "Restoring 300×200…" and any(n.startswith("Restoring 300×200… tile ") for n in notes[1:])
    assert notes[-1].endswith("done") and isinstance(steps[-1], handlers.RestoreOutcome)
    assert len(threads) == 1 and threads.pop().startswith("vlunet-model")
    with pytest.raises(handlers.UploadError, match="guidance must be one of"):
        list(handlers.restore_steps(slow, big, choice="fog"))


def test_language_steering_changes_the_result(holder, tmp_path, make_photo):
    path = make_photo(tmp_path / "scene.png")
    runs = {}
    for choice, text in (("auto", ""), ("text", "remove the fog"), ("haze", "")):
        out = handlers.restore(holder, path, choice, text, "off")
        runs[choice] = out.summary, views.record_stages(holder, out.session)  # the same steering again
    assert "“remove the fog”" in runs["text"][0] and "steered to *Haze*" in runs["haze"][0]
    auto, words, named = (runs[c][1] for c in ("auto", "text", "haze"))
    for k in range(8):  # the words' embedding replaced d_I: every stage retrieved other keys
        assert not np.allclose(auto[k].weights, words[k].weights, atol=1e-6)
        assert not np.allclose(named[k].weights, words[k].weights, atol=1e-6)


def test_tiled_restore_explains_missing_trace_and_keeps_mode(holder, tmp_path, make_photo):
    path = make_photo(tmp_path / "gray.tif", (90, 71), mode="LA")
    out = handlers.restore(holder, path, "auto", "", "64")
    assert out.before.endswith(".png") and Image.open(out.before).size == (90, 71)  # browsers cannot show TIFF
    assert views.record_stages(holder, out.session) is None and "tiles" in out.session.trace_note
    assert Image.open(out.png_path).mode == "LA" and Image.open(out.png_path).size == (90, 71)
    gallery, weights, changes, note = views.unfolding_overview(out.session)
    assert gallery == [] and "tiles" in note
    assert views.stage_detail(out.session, 3)[0] is None


def test_stage_views_and_walk(holder, tmp_path, make_photo):
    out = handlers.restore(holder, make_photo(tmp_path / "scene.png"), "auto", "", "auto")
    gallery, _, _, note = views.unfolding_overview(out.session)
    assert gallery == [] and "Show the stages" in note  # nothing recorded until the view asks
    views.record_stages(holder, out.session)
    gallery, weights, changes, _ = views.unfolding_overview(out.session)
    assert len(gallery) == 8 and gallery[3][1].startswith("4 · Latent")
    assert np.asarray(weights.data[0].z).shape == (8, len(out.session.stages[0].weights))
    before, grad, prox, corr, after, text, weights, changes = views.stage_detail(out.session, 99)  # clamped to 8
    assert text.startswith("### Stage 8 of 8: Refinement") and "r = " in text
    assert weights.layout.shapes[0].y0 == 6.5  # the selected row is outlined
    assert grad.shape == prox.shape and corr.shape[0] == grad.shape[0] and corr.shape[1] > grad.shape[1]  # colour bar
    assert before.shape[:2] == after.shape[:2] and max(before.shape[:2]) == 37   # input and output beside it
    names = out.session.key_names   # every key named by the class that retrieves it most
    assert len(names) == len(out.session.stages[0].weights) and set(names) <= set(plots.DISPLAY.values())
    assert all(f"<br>{n}" in x for n, x in zip(names, weights.data[0].x)) and "retrieved most by" in text


def test_a_cancelled_job_stops_at_the_next_stage_and_frees_the_line(holder, tmp_path, make_photo):
    from app.jobs import Cancelled, Job
    path = make_photo(tmp_path / "scene.png")
    job = Job(session="s1")
    stages_run = []
    network = holder.get().network
    hooks = [s.register_forward_pre_hook(lambda m, i: stages_run.append(m) or (job.cancel("cancelled by you")
                                                                              if len(stages_run) == 3 else None))
             for s in network.stages]
    try:
        with pytest.raises(Cancelled, match="cancelled by you"):
            holder.line.submit(job, handlers.restore, holder, path, "auto", "", "off", None, None, job).result()
    finally:
        for h in hooks:
            h.remove()
    assert len(stages_run) == 3 and len(holder.line) == 0   # stopped before stage 4; nothing left in the line
    waiting = Job(session="s2")
    blocker = threading.Event()
    first = holder.line.submit(Job(session="s3", estimate=2.0), blocker.wait, 5)
    queued = holder.line.submit(waiting, handlers.restore, holder, path)
    assert holder.line.ahead(waiting)[0] == 1 and holder.line.cancel_session("s2") == 1
    blocker.set()
    first.result()
    with pytest.raises(Cancelled):   # dropped when its turn came, without running
        queued.result()
    stale = Job(stale_after=0.0)
    time.sleep(0.01)
    with pytest.raises(Cancelled, match="went away"):
        stale.check()


def test_restore_steps_say_where_a_waiting_restore_is_and_log_one_line(holder, tmp_path, make_photo, caplog):
    from app.jobs import Job
    path = make_photo(tmp_path / "scene.png")
    blocker = threading.Event()
    holder.line.submit(Job(session="other", estimate=3.0), blocker.wait, 5)
    steps = handlers.restore_steps(holder, path, "text", "banana", "off", poll=0.01, session="mine")
    with caplog.at_level("INFO", logger="app.requests"):
        first = next(steps)
        assert first.startswith("Waiting for the model: 1 restore is ahead of yours, about")
        blocker.set()
        outcome = list(steps)[-1]
    assert isinstance(outcome, handlers.RestoreOutcome) and outcome.details["steering"] == "text:banana"
    assert "Your words read as:" in outcome.steering_note
    [line] = [r.getMessage() for r in caplog.records if r.name == "app.requests"]
    assert line.startswith("restore size=37x31 model=vlunet-tiny detected=") and "steering=text:'banana'" in line
    assert "outcome=ok" in line and "seconds=" in line and "scene" not in line and "mode=all-in-one" in line


def test_recorded_stages_are_those_of_the_restore(tmp_path, make_photo):
    """The Unfolding view re-runs the network with the trace on: same image, same steering, same output."""
    restorer, note = tiny_restorer()
    holder = ModelHolder(AppConfig(), lambda cfg: (restorer, note))
    path = make_photo(tmp_path / "scene.png", (40, 32))
    out = handlers.restore(holder, path, "text", "remove the fog", "off")
    stages = views.record_stages(holder, out.session)
    direct = restorer.restore(path, degradation="remove the fog", tile=0, trace=True)
    assert np.array_equal(np.asarray(direct.image), np.asarray(out.after))
    for view, record in zip(stages, direct.stages, strict=True):
        assert np.allclose(view.weights, record.weights[0].numpy(), atol=1e-6) and view.step == pytest.approx(record.step)
    gone = handlers.restore(holder, make_photo(tmp_path / "gone.png"), "auto", "", "auto").session
    Path(gone.input_path).unlink()
    assert views.record_stages(holder, gone) is None and "cannot be read again" in gone.trace_note
    assert "gone" in gone.trace_note and views.unfolding_overview(gone)[0] == []


def test_pca_projection_is_fixed_and_explained():
    torch.manual_seed(0)
    maps = torch.zeros(5, 20, 30)
    maps[2] = torch.linspace(-1, 1, 30).expand(20, 30) * 10  # the dominant direction is channel 2
    maps += 0.01 * torch.randn(5, 20, 30)
    basis = pca_basis(maps)
    assert basis.shape == (5, 3)
    assert torch.allclose(basis.t() @ basis, torch.eye(3), atol=1e-4)
    assert basis[:, 0].abs().argmax() == 2 and basis[2, 0] > 0
    assert torch.allclose(pca_basis(-maps)[:, 0], basis[:, 0], atol=1e-4)  # sign does not flip
    rgb, = project_rgb([maps], basis)
    assert rgb.shape == (20, 30, 3) and rgb[:, 0, 0].mean() < 30 and rgb[:, -1, 0].mean() > 225
    assert pca_basis(torch.randn(2, 8, 8)).shape == (2, 3)  # fewer than three channels
    heat = colorize(torch.linspace(0, 1, 100).reshape(10, 10))
    assert heat.shape == (10, 10, 3) and heat[0, 0].sum() < heat[-1, -1].sum()


def test_model_holder_loads_once_and_reports_missing_weights():
    calls = []

    def slow_factory(cfg):
        calls.append(1)
        time.sleep(0.2)
        return tiny_restorer(encoder=False)

    holder = ModelHolder(AppConfig(), slow_factory)
    threads = [threading.Thread(target=holder.get) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and holder.loaded and "random-weight" in holder.status()

    missing = ModelHolder(AppConfig(model="/nonexistent/vlunet.safetensors"), default_factory)
    with pytest.raises(ModelUnavailableError, match="no weights named"):
        missing.get()
    assert "not available" in missing.status() and not missing.loaded


def test_shipped_default_loads_or_names_the_recipe():
    holder = ModelHolder(AppConfig())
    try:
        restorer = holder.get()
    except ModelUnavailableError as exc:
        assert "train_restorer" in str(exc)  # the message says how to create the weights
    else:
        assert isinstance(restorer, core.Restorer)


def test_restore_without_encoder_uses_uniform_retrieval(tmp_path, make_photo):
    holder = ModelHolder(AppConfig(), lambda cfg: tiny_restorer(encoder=False))
    out = handlers.restore(holder, make_photo(tmp_path / "s.png"), "auto", "", "auto")
    assert "uniform retrieval" in out.summary
    assert "No degradation encoder" in out.chart.layout.annotations[0].text
    with pytest.raises(ValueError, match="needs a degradation encoder"):
        handlers.restore(holder, make_photo(tmp_path / "s.png"), "rain", "", "auto")


def test_make_examples_from_a_corpus(tmp_path, make_photo):
    from app.make_examples import CHOICES, main
    from training.data.photos import read_manifest

    records = {r.file: r for r in read_manifest()}
    (tmp_path / "photos" / "val").mkdir(parents=True)
    for i, file in enumerate(CHOICES.values()):
        make_photo(tmp_path / "photos" / "val" / records[file].name, (90, 70), seed=i)
    assert main(["--photos", str(tmp_path / "photos"), "--out", str(tmp_path / "ex"), "--side", "48"]) == 0
    files = sorted(p for p in (tmp_path / "ex").iterdir() if p.suffix != ".md")
    assert [p.stem.split("_", 1)[1] for p in files] == list(CANONICAL)
    assert all(max(Image.open(p).size) == 48 for p in files)
    readme = (tmp_path / "ex" / "README.md").read_text()
    assert all(records[f].licence in readme and f in readme for f in CHOICES.values())
    assert main(["--photos", str(tmp_path / "nowhere"), "--out", str(tmp_path / "ex2")]) == 1


def test_shipped_examples_cover_every_degradation():
    folder = ROOT / "assets" / "examples"
    files = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))
    assert sorted(p.stem.split("_", 1)[1] for p in files) == sorted(CANONICAL)
    assert sum(p.stat().st_size for p in files) < 3 * 2**20
    assert all(max(Image.open(p).size) <= 512 for p in files)
    readme = (folder / "README.md").read_text()
    assert all(p.name in readme for p in files)
