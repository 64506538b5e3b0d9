"""End to end in a real Chromium (Playwright) at 1400x900: drop a photo, restore, read the shown pixels,
inspect the eight stages, open the embedding atlas; steer with words, drop a file that is no image,
cancel a restore, close a tab while its restore runs. Screenshots go to test-artifacts/ (git-ignored).

Needs Debian's ``chromium`` at /usr/bin/chromium (``apt-get install -y chromium``); skipped without it.
"""
from __future__ import annotations

import base64
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
PACE = {"seconds": 0.0}
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package with `apt-get install -y chromium`",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

DROP = """([b64, name]) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, {type: 'image/png'}));
    return dt;
}"""
# Draw the restored <img> (the slider's second image) on a canvas and read its pixels back.
READ_PIXELS = """async () => {
    const imgs = document.querySelectorAll('#before-after img');
    const img = imgs[imgs.length - 1];
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return {w: c.width, h: c.height, data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data)};
}"""
SHOWN = """() => {
    const imgs = document.querySelectorAll('#before-after img');
    return imgs.length >= 2 && Array.from(imgs).every(i => i.complete && i.naturalWidth > 0);
}"""


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from app import build_demo, launch_kwargs
    from app.atlas import Atlas
    from app.config import AppConfig
    from app.testing import PCAReducer, synthetic_atlas_table, tiny_restorer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("studio")
    restorer, note = tiny_restorer()
    # PACE["seconds"] slows every unfolding stage down, so that a restore runs long enough to cancel
    for stage in restorer.network.stages:
        stage.register_forward_pre_hook(lambda module, inputs: time.sleep(PACE["seconds"]))
    table = synthetic_atlas_table(restorer.encoder, tmp / "atlas.parquet", per_class=2)
    config = AppConfig(cache_dir=str(tmp / "cache"))
    demo = build_demo(config, restorer_factory=lambda cfg: (restorer, note),
                      atlas=Atlas(table, tmp / "cache", reducer=PCAReducer))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    yield url, restorer
    demo.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def page(studio):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


class Lines(logging.Handler):
    """The ``app.requests`` log lines written while it is attached."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        logger = logging.getLogger("app.requests")
        logger.setLevel(logging.INFO)
        logger.addHandler(self)

    def emit(self, record):
        self.lines.append(record.getMessage())

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no log line with {text!r} in {timeout} s: {self.lines}")


def drop(page, path: Path, name: str | None = None, mime: str = "image/png") -> None:
    """Drag and drop the file onto the input, as a user does."""
    data = page.evaluate_handle(DROP.replace("image/png", mime),
                                [base64.b64encode(path.read_bytes()).decode(), name or path.name])
    target = page.locator('#input-image [aria-dropeffect="copy"]')
    for event in ("dragenter", "dragover", "drop"):
        target.dispatch_event(event, {"dataTransfer": data})


def scene(path: Path, size=(83, 61), seed=1) -> Path:
    rng = np.random.default_rng(seed)
    base = Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    base.save(path)
    return path


def test_drop_restore_inspect_and_atlas(studio, page, tmp_path):
    url, restorer = studio
    ARTIFACTS.mkdir(exist_ok=True)
    photo = scene(tmp_path / "dropped.png")

    page.goto(url)
    page.get_by_text("Model ready").wait_for()
    drop(page, photo)
    page.wait_for_function(SHOWN)
    page.get_by_text("Restored 83×61").wait_for()
    shown = page.evaluate(READ_PIXELS)
    pixels = np.array(shown["data"], dtype=np.uint8).reshape(shown["h"], shown["w"], 4)[..., :3]
    expected = np.asarray(restorer.restore(str(photo)).image)
    assert pixels.shape == expected.shape and np.abs(pixels.astype(int) - expected).max() <= 1
    page.wait_for_selector("#degradation-chart .js-plotly-plot")
    chart = page.locator("#degradation-chart").inner_text()
    assert ("Detected:" in chart or "Unsure:" in chart) and "not calibrated" in chart
    assert page.locator("#download-button").is_enabled()
    assert not page.locator("#mode-choice").is_visible()   # a model without specialists: no Mode control
    for selector in ("#before-after", "#degradation-chart", "#download-button"):   # result first: above the fold
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= 900, selector
    page.screenshot(path=str(ARTIFACTS / "app-restore.png"))
    handle = page.locator("#before-after .outer")                      # the compare view from the keyboard
    image = page.locator("#before-after img").last.bounding_box()
    start = handle.bounding_box()["x"]
    page.locator("#before-after").focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")                                 # 10 x 2 % of the image to the left
    page.wait_for_function("() => document.querySelector('#before-after').getAttribute('aria-valuenow') === '30'")
    moved = start - handle.bounding_box()["x"]
    assert moved == pytest.approx(0.2 * image["width"], abs=3)
    page.keyboard.press("End")
    page.wait_for_function("() => document.querySelector('#before-after').getAttribute('aria-valuenow') === '100'")
    assert handle.bounding_box()["x"] > start

    page.get_by_role("tab", name="Unfolding").click()
    page.wait_for_function("() => document.querySelectorAll('#stage-gallery img').length === 8")
    page.get_by_text("Stage 1 of 8").wait_for()
    page.get_by_role("button", name="Next stage ▶").click()
    page.get_by_text("Stage 2 of 8").wait_for()
    page.locator('#stage-gallery button[aria-label="Thumbnail 4 of 8"]').click()
    page.get_by_text("Stage 4 of 8: Latent").wait_for()
    assert "retrieved most by" in page.locator("#stage-text").inner_text()
    for image in ("#stage-input", "#stage-z", "#stage-x", "#stage-correction", "#stage-output"):
        page.wait_for_selector(f"{image} img")
    page.screenshot(path=str(ARTIFACTS / "app-unfolding.png"), full_page=True)

    page.get_by_role("tab", name="Atlas").click()
    page.wait_for_selector("#atlas-before .js-plotly-plot")
    page.wait_for_selector("#atlas-after .js-plotly-plot")
    page.get_by_text("marks your last restored image").wait_for()
    for plot in ("#atlas-before", "#atlas-after"):
        assert "your image" in page.locator(plot).inner_text()
    page.screenshot(path=str(ARTIFACTS / "app-atlas.png"), full_page=True)


def test_words_are_read_back_and_the_contact_sheet_shows_every_guidance(studio, page, tmp_path):
    url, _ = studio
    page.goto(url)
    page.get_by_text("Model ready").wait_for()
    page.locator("#guidance-choice input").click()
    page.get_by_role("option", name="Describe it in words…").click()
    page.locator("#guidance-text textarea").fill("banana")
    drop(page, scene(tmp_path / "words.png", seed=2))
    page.get_by_text("Restored 83×61").wait_for()
    note = page.locator("#steering-note")
    note.get_by_text("Your words read as:").wait_for()
    assert "steered by the words “banana”" in page.locator("#restore-summary").inner_text()
    page.locator("#contact-button").click()
    page.wait_for_function("() => document.querySelectorAll('#contact-sheet img').length === 10")
    captions = page.locator("#contact-sheet").inner_text()
    assert all(name in captions for name in ("Input", "Auto-detected", "Uniform", "Haze", "Rain", "Low light"))
    page.screenshot(path=str(ARTIFACTS / "app-steering.png"), full_page=True)


def test_a_file_that_is_no_image_leaves_a_clear_message_and_an_empty_input(studio, page, tmp_path):
    url, _ = studio
    page.goto(url)
    page.get_by_text("Model ready").wait_for()
    fake = tmp_path / "holiday.png"
    fake.write_text("these are my notes, not a photo")
    drop(page, fake)
    summary = page.locator("#restore-summary")
    summary.get_by_text("Cannot restore this image").wait_for()
    assert "not an image the studio can read" in summary.inner_text()
    page.wait_for_function("() => !document.querySelector('#input-image img')")   # no broken picture stays
    time.sleep(12)   # the message is part of the page, not a toast that fades
    assert "Cannot restore this image" in summary.inner_text()
    assert page.locator("#input-image .error").count() == 0 and page.locator("#restore-summary .error").count() == 0
    page.screenshot(path=str(ARTIFACTS / "app-bad-file.png"))


def test_cancel_and_a_closed_tab_stop_the_work_and_free_the_line(studio, page, tmp_path):
    url, restorer = studio
    lines = Lines()
    PACE["seconds"] = 1.0   # eight stages: about 8 s a restore
    try:
        page.goto(url)
        page.get_by_text("Model ready").wait_for()
        drop(page, scene(tmp_path / "slow.png", seed=3))
        page.get_by_text("Restoring 83×61").wait_for()
        page.locator("#cancel-button").click()
        page.locator("#restore-summary").get_by_text("Cancelled").wait_for(timeout=5_000)
        assert "cancelled by you" in page.locator("#restore-summary").inner_text()
        assert "outcome=cancelled" in lines.wait_for("size=83x61")
        page.locator("#cancel-button").wait_for(state="hidden")

        # a second user's tab starts a restore; this page waits behind it and says so; the tab is closed
        other = page.context.browser.new_page(viewport={"width": 1400, "height": 900})
        other.goto(url)
        other.get_by_text("Model ready").wait_for()
        drop(other, scene(tmp_path / "other.png", (71, 53), seed=4))
        other.get_by_text("Restoring 71×53").wait_for()
        drop(page, scene(tmp_path / "mine.png", (67, 49), seed=5))
        page.get_by_text("Waiting for the model: 1 restore is ahead of yours").wait_for()
        page.screenshot(path=str(ARTIFACTS / "app-waiting.png"))
        closed_at = time.monotonic()
        other.close()
        line = lines.wait_for("size=71x53", timeout=6)   # stopped at its next stage, not after all eight
        assert "outcome=cancelled" in line or "outcome=abandoned" in line
        PACE["seconds"] = 0.0
        page.get_by_text("Restored 67×49").wait_for(timeout=15_000)
        assert time.monotonic() - closed_at < 8
        assert "outcome=ok" in lines.wait_for("size=67x49")
    finally:
        PACE["seconds"] = 0.0
        logging.getLogger("app.requests").removeHandler(lines)
