"""End to end in a real Chromium (Playwright): drop a photo, restore, read the shown pixels, inspect
the eight stages, open the embedding atlas. Screenshots go to test-artifacts/ (git-ignored).

Needs Debian's ``chromium`` at /usr/bin/chromium (``apt-get install -y chromium``); skipped without it.
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
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
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_drop_restore_inspect_and_atlas(studio, page, tmp_path):
    url, restorer = studio
    ARTIFACTS.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    base = Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8)).resize((83, 61), Image.Resampling.BICUBIC)
    photo = tmp_path / "dropped.png"
    base.save(photo)

    page.goto(url)
    page.get_by_text("Model ready").wait_for()
    # drag and drop the file onto the input, as a user does
    data = page.evaluate_handle(DROP, [base64.b64encode(photo.read_bytes()).decode(), "dropped.png"])
    target = page.locator('#input-image [aria-dropeffect="copy"]')
    for event in ("dragenter", "dragover", "drop"):
        target.dispatch_event(event, {"dataTransfer": data})
    page.wait_for_function(SHOWN)
    page.get_by_text("Restored 83×61").wait_for()
    shown = page.evaluate(READ_PIXELS)
    pixels = np.array(shown["data"], dtype=np.uint8).reshape(shown["h"], shown["w"], 4)[..., :3]
    expected = np.asarray(restorer.restore(str(photo)).image)
    assert pixels.shape == expected.shape and np.abs(pixels.astype(int) - expected).max() <= 1
    page.wait_for_selector("#degradation-chart .js-plotly-plot")
    assert "Detected:" in page.locator("#degradation-chart").inner_text()
    assert page.locator("#download-button").is_enabled()
    page.screenshot(path=str(ARTIFACTS / "app-restore.png"), full_page=True)

    page.get_by_role("tab", name="Unfolding").click()
    page.wait_for_function("() => document.querySelectorAll('#stage-gallery img').length === 8")
    page.get_by_text("Stage 1 of 8").wait_for()
    page.get_by_role("button", name="Next stage ▶").click()
    page.get_by_text("Stage 2 of 8").wait_for()
    page.locator('#stage-gallery button[aria-label="Thumbnail 4 of 8"]').click()
    page.get_by_text("Stage 4 of 8: Latent").wait_for()
    page.screenshot(path=str(ARTIFACTS / "app-unfolding.png"), full_page=True)

    page.get_by_role("tab", name="Embedding atlas").click()
    page.wait_for_selector("#atlas-before .js-plotly-plot")
    page.wait_for_selector("#atlas-after .js-plotly-plot")
    page.get_by_text("marks your last restored image").wait_for()
    for plot in ("#atlas-before", "#atlas-after"):
        assert "your image" in page.locator(plot).inner_text()
    page.screenshot(path=str(ARTIFACTS / "app-atlas.png"), full_page=True)
