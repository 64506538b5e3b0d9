"""Speed and memory of the network, its equal-parameter baseline and the Restorer on this CPU.

    python benchmarks/bench_network.py                      # the full table (long: see --help)
    python benchmarks/bench_network.py --models vlunet-tiny --sizes 256 512 --no-big

Every case runs in a fresh process, so each peak-memory figure (the process's peak resident
set, from getrusage) belongs to that case alone. Rows:

* ``forward``: one network forward (inference mode, batch 1, random weights of the named
  configuration; speed does not depend on the weights); images/s = 1 / median time.
  For every VLU-Net configuration two comparisons run in the same invocation:
  ``authors-style``, the same network executed the way the authors' code executes it
  (benchmarks/authors_style.py, sizes up to ``--authors-max``), and ``baseline``, the
  Restormer/PromptIR-style end-to-end network of equal parameter count
  (``training.baselines``: promptir-tiny / promptir-paper), executed channels-last like ours;
  their notes give the ratios;
* ``tiled``: a 4000 x 3000 input through the tiles ``Restorer.restore`` chooses for the model
  (``Restorer.auto_tile``: 512 pixels, overlapping by 32); ``--big-tiles K`` stops after K of the tiles
  and reports the measured seconds per tile (peak memory is reached at the first tile: the
  accumulators are allocated before it);
* ``restore``: ``Restorer.restore`` of a 512 x 512 photo end to end, encoder included
  (the shipped encoder and network weights when present); ``--ensemble mirror`` (or ``flips``, ``dihedral``)
  adds a row with that self-ensemble (execution column: its name).
``--bf16`` adds, for every VLU-Net forward, a row run under ``core.network.bfloat16_inference``.
Every case calls ``core.keep_freed_memory()`` first, as the studio and ``python -m core`` do
(``--no-keep-freed`` leaves glibc's defaults: then each forward page-faults its way through
fresh memory). Cases whose single forward is long (``--long-after`` seconds, measured on the first run) are
timed once after that first run instead of ``--repeats`` times; sizes above ``--cold-above``
pixels warm up on a 256 x 256 input and are timed once (the runs column says 1).
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
    from core.allocator import resident_bytes
    return resident_bytes() / 2 ** 20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


BASELINE_OF = {"vlunet-tiny": "promptir-tiny", "vlunet-paper": "promptir-paper"}
BIG = "4000x3000"


def _timed(fn, repeats: int, long_after: float = float("inf"), warm_up=None) -> list[float]:
    """Times of ``repeats`` calls after one warm-up call (oneDNN primitive creation); when the
    warm-up alone takes over ``long_after`` seconds, one more call is timed instead. A separate
    ``warm_up`` callable (a smaller input) replaces the warm-up call and one call is timed."""
    t = time.perf_counter()
    if warm_up is not None:
        warm_up()
        repeats, long_after = 1, float("inf")
    else:
        fn()
    if time.perf_counter() - t > long_after:
        repeats = 1
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


class _EnoughTiles(Exception):
    pass


def _network(model: str):
    """(network in eval mode, parameter count); VLU-Net configurations or training baselines."""
    import core
    if model in core.list_models():
        net = core.create_model(model)
    else:
        from training.baselines import create_baseline
        net = create_baseline(model)   # run channels-last through its input (see run_case)
    return net.eval(), sum(p.numel() for p in net.parameters())


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


def run_case(kind: str, model: str, size: str, style: str, repeats: int,
             long_after: float = 60.0, big_tiles: int = 0, cold_above: int = 0, keep_freed: bool = True) -> dict:
    import torch
    import core
    if keep_freed:
        core.keep_freed_memory()
    torch.manual_seed(0)
    w, h = (int(v) for v in size.split("x")) if "x" in size else (int(size), int(size))
    note, params = "", None
    if kind in ("forward", "tiled"):
        net, params = _network(model)
        x, d = torch.rand(1, 3, h, w), torch.randn(1, 512)
        small = torch.rand(1, 3, 256, 256)
        if style == "baseline":
            x, small = (t.contiguous(memory_format=torch.channels_last) for t in (x, small))
        warm_up = (lambda: net(small, d)) if cold_above and w * h > cold_above else None
        base = _rss_mib()
        with torch.inference_mode():
            if kind == "tiled":
                from core.restorer import DEFAULT_OVERLAP
                from core.tiling import apply_tiled
                tile = core.Restorer(net).auto_tile(h, w) if model in core.list_models() else 512
                done = []

                def on_tile(i: int, total: int) -> None:
                    done[:] = [i, total]
                    if big_tiles and i >= big_tiles:
                        raise _EnoughTiles

                net(x[..., :tile, :tile], d)   # warm-up on one tile
                t = time.perf_counter()
                try:
                    apply_tiled(lambda t: net(t, d), x, tile, DEFAULT_OVERLAP, net.multiple, on_tile=on_tile)
                except _EnoughTiles:
                    pass
                elapsed = time.perf_counter() - t
                per_tile = elapsed / done[0]
                times = [elapsed if done[0] == done[1] else per_tile * done[1]]
                note = (f"{tile}-px tiles; " if tile != 512 else "") + (f"{done[1]} tiles, {per_tile:.2f} s per tile" if done[0] == done[1] else
                        f"{done[0]} of {done[1]} tiles run, {per_tile:.2f} s per tile; total = per tile x {done[1]}")
            else:
                from benchmarks.authors_style import authors_execution
                from core.network import bfloat16_inference
                with authors_execution() if style == "authors" else bfloat16_inference(style == "bf16"):
                    times = _timed(lambda: net(x, d), repeats, long_after, warm_up)
    else:
        restorer, note = _restorer(model)
        photo = _photo(w, h)
        base = _rss_mib()
        ensemble = "none" if style == "ours" else style
        times = _timed(lambda: restorer.restore(photo, ensemble=ensemble), repeats, long_after)
    return {"kind": kind, "model": model, "params": params, "size": f"{w}x{h}", "style": style,
            "seconds": statistics.median(times), "runs": len(times),
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
    p.add_argument("--sizes", nargs="+", default=["256", "512", "1024"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--long-after", type=float, default=60.0,
                   help="a case whose warm-up forward takes longer is timed once (default 60 s)")
    p.add_argument("--cold-above", type=int, default=0,
                   help="inputs of more pixels warm up on 256x256 and are timed once (0 = off)")
    p.add_argument("--authors-max", type=int, default=512, help="largest size of the authors-style rows")
    p.add_argument("--no-authors", action="store_true", help="skip the authors-style comparison")
    p.add_argument("--no-baseline", action="store_true", help="skip the equal-parameter baseline")
    p.add_argument("--no-restore", action="store_true", help="skip the 512x512 restore")
    p.add_argument("--ensemble", default="none", choices=("none", "mirror", "flips", "dihedral"),
                   help="also time the 512x512 restore with this self-ensemble")
    p.add_argument("--no-big", action="store_true", help=f"skip the {BIG} tiled forward")
    p.add_argument("--big-tiles", type=int, default=0,
                   help=f"run only this many tiles of the {BIG} case (0 = all) and scale the time")
    p.add_argument("--bf16", action="store_true", help="also time each VLU-Net forward in bfloat16 (opt-in path)")
    p.add_argument("--no-keep-freed", action="store_true", help="leave glibc's malloc defaults (see above)")
    p.add_argument("--case", nargs=9, metavar=("KIND", "MODEL", "SIZE", "STYLE", "REPEATS", "LONG", "TILES", "COLD", "KEEP"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        kind, model, size, style, repeats, long_after, tiles, cold, keep = args.case
        print(json.dumps(run_case(kind, model, size, style, int(repeats), float(long_after), int(tiles), int(cold),
                                  keep == "1")))
        return 0

    import torch
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print("| case | model | parameters | size | execution | median s | runs | images/s | process peak MiB | above start MiB | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)

    def run(kind: str, model: str, size: str, style: str, ours: dict | None = None) -> dict:
        r = _child([kind, model, size, style, str(args.repeats), str(args.long_after), str(args.big_tiles),
                    str(args.cold_above), "0" if args.no_keep_freed else "1"])
        if ours is not None and style == "authors":
            r["note"] = f"ours is {r['seconds'] / ours['seconds']:.2f}x faster"
        elif ours is not None and style == "bf16":
            r["note"] = f"{ours['seconds'] / r['seconds']:.2f}x float32's speed"
        elif ours is not None:
            r["note"] = "; ".join(n for n in (r["note"], f"VLU-Net takes {ours['seconds'] / r['seconds']:.2f}x its time, "
                                  f"{ours['peak_mib'] / r['peak_mib']:.2f}x its peak memory") if n)
        params = f"{r['params']:,}" if r["params"] else ""
        print(f"| {r['kind']} | {r['model']} | {params} | {r['size']} | {r['style']} | {r['seconds']:.3f} | "
              f"{r['runs']} | {1 / r['seconds']:.3g} | {r['peak_mib']:.0f} | {r['extra_mib']:.0f} | {r['note']} |",
              flush=True)
        return r

    for model in args.models:
        partner = None if args.no_baseline else BASELINE_OF.get(model)
        for size in args.sizes:
            ours = run("forward", model, size, "ours")
            if args.bf16:
                run("forward", model, size, "bf16", ours)
            if not args.no_authors and int(size.split("x")[0]) <= args.authors_max:
                run("forward", model, size, "authors", ours)
            if partner:
                run("forward", partner, size, "baseline", ours)
        if not args.no_big:
            ours = run("tiled", model, BIG, "ours")
            if partner:
                run("tiled", partner, BIG, "baseline", ours)
    if not args.no_restore:
        run("restore", "vlunet-tiny", "512", "ours")
        if args.ensemble != "none":
            run("restore", "vlunet-tiny", "512", args.ensemble)
    return 0


if __name__ == "__main__":
    sys.exit(main())
