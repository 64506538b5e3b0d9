"""Speed and memory of the network and the Restorer on this machine's CPU.

    python benchmarks/bench_network.py                      # the full table (a few minutes)
    python benchmarks/bench_network.py --sizes 256 --models vlunet-tiny --no-big

Every case runs in a fresh process, so each peak-memory figure (the process's peak resident
set, from getrusage) belongs to that case alone. Rows:

* ``forward``: one network forward (inference mode, batch 1, random weights of the named
  configuration; speed does not depend on the weights), ours and, for comparison, the same
  network executed the way the authors' code executes it (benchmarks/authors_style.py);
* ``restore``: ``Restorer.restore`` of a 512 x 512 photo end to end, encoder included
  (the shipped encoder when present; the shipped network weights when present);
* ``restore 4000x3000``: a 12-megapixel photo through automatic 512-pixel tiles.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: oneDNN primitive creation
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _photo(width: int, height: int):
    import numpy as np
    from PIL import Image
    from skimage import data
    img = Image.fromarray(data.astronaut()).resize((width, height), Image.BICUBIC)
    rng = np.random.default_rng(0)
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, 25, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _restorer(model: str):
    import core
    from core.pretrained import PRETRAINED, ASSETS
    entry = PRETRAINED.get(model)
    if entry and (ASSETS / entry.file).is_file():
        net, weights = core.load_model(ASSETS / entry.file), "shipped"
    else:
        net, weights = core.create_model(model), "random"
    try:
        from core.encoder import DegradationEncoder
        encoder, enc = DegradationEncoder.from_pretrained(), "shipped"
    except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
        encoder, enc = None, f"none ({type(exc).__name__})"
    return core.Restorer(net, encoder), f"weights {weights}, encoder {enc}"


def run_case(kind: str, model: str, size: str, style: str, repeats: int) -> dict:
    import torch
    import core
    torch.manual_seed(0)
    w, h = (int(v) for v in size.split("x")) if "x" in size else (int(size), int(size))
    note = ""
    if kind == "forward":
        net = core.create_model(model).eval()
        x, d = torch.rand(1, 3, h, w), torch.randn(1, 512)
        base = _rss_mib()
        with torch.inference_mode():
            if style == "authors":
                from benchmarks.authors_style import authors_execution
                with authors_execution():
                    times = _timed(lambda: net(x, d), repeats)
            else:
                times = _timed(lambda: net(x, d), repeats)
    else:
        restorer, note = _restorer(model)
        photo = _photo(w, h)
        base = _rss_mib()
        times = _timed(lambda: restorer.restore(photo), repeats)
    return {"kind": kind, "model": model, "size": f"{w}x{h}", "style": style,
            "seconds": statistics.median(times), "min": min(times),
            "peak_mib": _peak_mib(), "extra_mib": _peak_mib() - base, "note": note}


def _child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--case", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"case {args} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["vlunet-tiny", "vlunet-paper"])
    p.add_argument("--sizes", nargs="+", default=["256", "512"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-authors", action="store_true", help="skip the authors-style comparison")
    p.add_argument("--no-restore", action="store_true", help="skip the 512x512 restore")
    p.add_argument("--no-big", action="store_true", help="skip the 4000x3000 restore")
    p.add_argument("--case", nargs=5, metavar=("KIND", "MODEL", "SIZE", "STYLE", "REPEATS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        kind, model, size, style, repeats = args.case
        print(json.dumps(run_case(kind, model, size, style, int(repeats))))
        return 0

    import torch
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print("| case | model | size | execution | median s | min s | process peak MiB | above start MiB | note |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)

    def show(r: dict) -> dict:
        print(f"| {r['kind']} | {r['model']} | {r['size']} | {r['style']} | {r['seconds']:.3f} | "
              f"{r['min']:.3f} | {r['peak_mib']:.0f} | {r['extra_mib']:.0f} | {r['note']} |", flush=True)
        return r

    for model in args.models:
        for size in args.sizes:
            ours = show(_child(["forward", model, size, "ours", str(args.repeats)]))
            if not args.no_authors:
                theirs = _child(["forward", model, size, "authors", str(args.repeats)])
                theirs["note"] = f"ours is {theirs['seconds'] / ours['seconds']:.2f}x faster"
                show(theirs)
    if not args.no_restore:
        show(_child(["restore", "vlunet-tiny", "512", "ours", str(args.repeats)]))
    if not args.no_big:
        show(_child(["restore", "vlunet-tiny", "4000x3000", "ours", "1"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
