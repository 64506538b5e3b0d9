"""Where the studio's network time goes: one 512x512 forward of the shipped model, timed in the
same process under four conditions, and the CPU the server and the browser take while idle.

    python benchmarks/bench_contention.py [--runs 5] [--threads 2]

Conditions, in order: the main thread with no server; the model holder's thread (where the
studio runs the network) with no server; the holder's thread with the studio launched and idle;
the holder's thread with Chromium (Playwright) showing the page and doing nothing. The gap from
the first row to the last is what the studio costs the network on a 2-core machine, against the
plain-script figure of ``bench_network.py``. Run it on an otherwise idle machine: the figures vary
by 10-15 % from run to run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psutil
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(label: str, call, runs: int) -> None:
    call()   # warm-up
    times = [call() for _ in range(runs)]
    print(f"{label}: median {statistics.median(times):.3f} s, min {min(times):.3f} "
          f"({' '.join(f'{t:.2f}' for t in times)})", flush=True)


def chromium_cpu_seconds() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and "chrom" in proc.info["name"]:
            try:
                total += sum(proc.cpu_times()[:2])
            except psutil.Error:
                pass
    return total


def cores_used(read, seconds: float = 5.0) -> float:
    """CPU seconds per second that ``read()`` (a CPU-seconds counter) grows by over ``seconds``."""
    start = read()
    time.sleep(seconds)
    return (read() - start) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from playwright.sync_api import sync_playwright

    from app import build_demo, launch_kwargs
    from app.config import AppConfig
    from core.guidance import degradation_vector

    config = AppConfig()
    demo = build_demo(config)
    holder = demo.studio_holder
    restorer = holder.get()
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        d = degradation_vector(restorer.encoder.encode_image(x)) if restorer.encoder is not None else None

    def forward() -> float:
        with torch.inference_mode():
            start = time.perf_counter()
            restorer.network(x, d)
            return time.perf_counter() - start

    def on_model_thread() -> float:
        return holder.submit(forward).result()

    server = psutil.Process()
    server_cpu = lambda: sum(server.cpu_times()[:2])  # noqa: E731
    print(f"model: {holder.note}; torch threads {args.threads}; 512x512 network forward")
    timed("main thread, no server", forward, args.runs)
    timed("model thread, no server", on_model_thread, args.runs)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    try:
        time.sleep(2)
        print(f"server idle: {cores_used(server_cpu):.3f} cores", flush=True)
        timed("model thread, server idle", on_model_thread, args.runs)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_text("Model ready").wait_for()
            time.sleep(4)   # past the page's load animations
            print(f"page open and idle: Chromium {cores_used(chromium_cpu_seconds):.3f} cores, "
                  f"server {cores_used(server_cpu):.3f} cores", flush=True)
            start_cpu, start = chromium_cpu_seconds(), time.perf_counter()
            timed("model thread, page open", on_model_thread, args.runs)
            print(f"  Chromium meanwhile: {(chromium_cpu_seconds() - start_cpu) / (time.perf_counter() - start):.3f} cores")
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
