"""Screenshots of the studio's three tabs for the README: ``docs/images/{restore,unfolding,atlas}.png``.

    python benchmarks/screenshots.py [--example assets/examples/4_haze.jpg] [--out docs/images]

Launches the studio on loopback with its defaults (shipped weights, offline encoder, shipped
atlas table), restores one example in Chromium through Playwright, opens each tab and saves a
screenshot, reduced to a palette PNG of at most ``--width`` pixels so each stays small.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def shrink(path: Path, width: int) -> None:
    """Resize ``path`` to at most ``width`` pixels wide and store it as a 256-colour PNG."""
    image = Image.open(path).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def capture(url: str, example: Path, out: Path, width: int) -> None:
    """Restore ``example`` on the page at ``url``, then save a screenshot of each tab under ``out``."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.locator("#input-image input[type=file]").set_input_files(str(example))
        page.get_by_text("Restored ").first.wait_for()
        page.wait_for_selector("#degradation-chart .js-plotly-plot")
        for name, tab, ready in [("restore", None, None),
                                 ("unfolding", "Unfolding", "() => document.querySelectorAll('#stage-gallery img').length === 8"),
                                 ("atlas", "Atlas", "() => !!document.querySelector('#atlas-after .js-plotly-plot')")]:
            if tab is not None:
                page.get_by_role("tab", name=tab).click()
                page.wait_for_function(ready)
            page.wait_for_timeout(1500)   # past the plots' drawing animations
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shrink(path, width)
            print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", type=Path, default=Path("assets/examples/4_haze.jpg"))
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args(argv)
    from app import build_demo, launch_kwargs
    args.out.mkdir(parents=True, exist_ok=True)
    demo = build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs())
    try:
        capture(url, args.example, args.out, args.width)
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
