"""Load test of the studio: N concurrent gradio_client clients x M requests to ``/restore``.

    OMP_NUM_THREADS=1 python benchmarks/load_app.py [--clients 16] [--requests 4] [--size 512]
        [--queue-size 16] [--concurrency 1] [--burst 8] [--timeout 600] [--shipped | --model vlunet-tiny]

The studio runs in this process on 127.0.0.1, with a seeded random-weight tiny restorer from
``app/testing.py`` (``--model NAME``: random weights of a registered architecture, same cost as the
trained one; ``--shipped``: the shipped weights). One request first gives the reference result;
then every client (its own session) sends its requests one after the other, all clients at once.
Every request must succeed and return the reference pixels exactly: the same weights run the same
CPU operations in the same order whatever else is queued, so any difference is a bug (``--tolerance``
relaxes it, in 8-bit levels). Then a burst of ``queue_size + burst`` requests at once shows what
happens past the queue: those beyond ``max_size`` are refused with gradio's "Queue is full" message
while the rest complete, and the server restores normally afterwards.

Prints a table (requests, failures, wall time, p50/p95 latency, peak memory: ``ru_maxrss`` of the
process and the peak of RSS sampled every 20 ms during the load) and the queue settings; exits 1 on
any failure or timeout.
"""
from __future__ import annotations

import argparse
import concurrent.futures as futures
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class LoadResult:
    """What the concurrent run measured. ``latencies`` in seconds, one per successful request."""

    requests: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: int = 0
    wall_s: float = 0.0
    rss_peak_mib: float = 0.0
    rss_before_mib: float = 0.0

    @property
    def failures(self) -> int:
        return len(self.errors) + self.mismatches

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


@dataclass
class OverflowResult:
    """The burst past the queue: completed requests, refusals (their messages) and other errors."""

    sent: int
    completed: int = 0
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    served_after: bool = False


def make_image(path: Path, size: int, seed: int = 0) -> Path:
    """A size x size smooth scene with sigma-25 noise (seeded), saved as PNG."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
    noisy = np.asarray(base, np.float32) + rng.normal(0, 25, (size, size, 3))
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path)
    return path


def _rss_mib() -> float:
    from core.allocator import resident_bytes
    return resident_bytes() / 2 ** 20


class RssSampler:
    """Peak resident memory of this process, sampled every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak = interval, _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mib())
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def serve(config, restorer_factory):
    """Launch the studio on loopback; returns (demo, url)."""
    from app import build_demo, launch_kwargs
    demo = build_demo(config, restorer_factory=restorer_factory)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    return demo, url


def restore_once(client, image: Path) -> np.ndarray:
    """One ``/restore`` request; the restored PNG as an array."""
    from gradio_client import handle_file
    png, *_ = client.predict(handle_file(str(image)), "auto", "", "auto", api_name="/restore")
    return np.asarray(Image.open(png))


def run_load(url: str, image: Path, reference: np.ndarray, clients: int, requests: int, timeout: float,
             tolerance: int = 0) -> LoadResult:
    """``clients`` concurrent clients (one session each) x ``requests`` sequential requests each."""
    from gradio_client import Client
    result = LoadResult(requests=clients * requests)
    sessions = [Client(url, verbose=False) for _ in range(clients)]
    deadline = time.monotonic() + timeout
    lock = threading.Lock()

    def work(client) -> None:
        for _ in range(requests):
            if time.monotonic() > deadline:
                with lock:
                    result.errors.append("not sent: --timeout reached")
                continue
            start = time.perf_counter()
            try:
                out = restore_once(client, image)
            except Exception as exc:  # every failure is counted and reported, none ends the run
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                continue
            same = out.shape == reference.shape and int(np.abs(out.astype(np.int16) - reference).max()) <= tolerance
            with lock:
                result.latencies.append(time.perf_counter() - start)
                result.mismatches += not same

    result.rss_before_mib = _rss_mib()
    start = time.perf_counter()
    with RssSampler() as rss, futures.ThreadPoolExecutor(clients) as pool:
        jobs = [pool.submit(work, c) for c in sessions]
        done, late = futures.wait(jobs, timeout=max(deadline - time.monotonic(), 0) + 5)
        if late:
            result.errors += ["timed out"] * sum(1 for _ in late)
    result.wall_s = time.perf_counter() - start
    result.rss_peak_mib = rss.peak
    return result


def run_overflow(url: str, image: Path, sent: int, timeout: float) -> OverflowResult:
    """``sent`` requests submitted at once (one client each); those past the queue are refused."""
    from gradio_client import Client, handle_file
    result = OverflowResult(sent=sent)
    sessions = [Client(url, verbose=False) for _ in range(sent)]
    barrier = threading.Barrier(sent)

    def one(client) -> None:
        barrier.wait()
        try:
            client.predict(handle_file(str(image)), "auto", "", "auto", api_name="/restore")
            result.completed += 1
        except Exception as exc:
            message = str(exc).splitlines()[0][:200]
            (result.refused if "queue is full" in message.lower() else result.errors).append(message)

    threads = [threading.Thread(target=one, args=(c,)) for c in sessions]
    [t.start() for t in threads]
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(end - time.monotonic(), 0))
    if any(t.is_alive() for t in threads):
        result.errors.append("timed out")
    try:
        restore_once(Client(url, verbose=False), image)
        result.served_after = True
    except Exception as exc:
        result.errors.append(f"after the burst: {exc}".splitlines()[0][:200])
    return result


def factory(args):
    """The restorer of the run: the shipped weights, or a seeded random-weight stand-in."""
    if args.shipped:
        return None, "shipped weights"
    from app.testing import tiny_restorer
    made = tiny_restorer(model=args.model)
    return (lambda cfg: made), made[1]


def table(load: LoadResult, clients: int, requests: int) -> str:
    rows = [("requests", f"{load.requests} ({clients} clients x {requests})"),
            ("failures", f"{load.failures} ({len(load.errors)} errors, {load.mismatches} results unlike the reference)"),
            ("wall time", f"{load.wall_s:.2f} s ({len(load.latencies) / load.wall_s:.2f} requests/s)"),
            ("latency p50", f"{load.percentile(50):.2f} s"), ("latency p95", f"{load.percentile(95):.2f} s"),
            ("latency max", f"{max(load.latencies, default=float('nan')):.2f} s"),
            ("RSS before load", f"{load.rss_before_mib:.0f} MiB"),
            ("RSS peak (sampled)", f"{load.rss_peak_mib:.0f} MiB"),
            ("ru_maxrss (process)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4, help="requests per client, one after the other")
    parser.add_argument("--size", type=int, default=512, help="side of the square test image")
    parser.add_argument("--queue-size", type=int, default=None, help="queue max_size (default: AppConfig's)")
    parser.add_argument("--concurrency", type=int, default=None, help="restores at once (default: AppConfig's)")
    parser.add_argument("--burst", type=int, default=8, help="requests past the queue size in the overflow burst (0: skip)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the load run (and again for the burst)")
    parser.add_argument("--tolerance", type=int, default=0, help="largest difference from the reference, 8-bit levels")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as set by OMP_NUM_THREADS)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shipped", action="store_true", help="the shipped weights instead of the random stand-in")
    group.add_argument("--model", default=None, help="random weights of this registered architecture (e.g. vlunet-tiny)")
    args = parser.parse_args(argv)
    for name in ("clients", "requests", "size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    import torch

    from app.config import AppConfig
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("queue_size", args.queue_size), ("concurrency", args.concurrency)) if v}
    config = AppConfig.from_env(cache_dir=tempfile.mkdtemp(prefix="load-app-"), **overrides)
    restorer_factory, note = factory(args)
    image = make_image(Path(config.cache_dir) / f"load{args.size}.png", args.size)
    demo, url = serve(config, restorer_factory)
    try:
        from gradio_client import Client
        try:
            start = time.perf_counter()
            reference = restore_once(Client(url, verbose=False), image)
            first = time.perf_counter() - start
        except Exception as exc:
            print(f"error: the single reference request failed: {exc}".splitlines()[0], file=sys.stderr)
            return 1
        print(f"studio at {url}: {demo.studio_holder.note or note}; torch threads {torch.get_num_threads()}")
        print(f"queue: max_size={config.queue_size}, concurrency={config.concurrency} (restores at once); "
              f"image {args.size}x{args.size}; single request {first:.2f} s (with the model load, if any)")
        load = run_load(url, image, reference, args.clients, args.requests, args.timeout, args.tolerance)
        print(f"\n{args.clients} clients x {args.requests} requests, results compared with the single request "
              f"(tolerance {args.tolerance} levels):")
        print(table(load, args.clients, args.requests))
        for message in sorted(set(load.errors))[:5]:
            print(f"  error: {message}")
        ok = load.failures == 0
        if args.burst > 0:
            sent = config.queue_size + config.concurrency + args.burst
            burst = run_overflow(url, image, sent, args.timeout)
            print(f"\noverflow: {sent} requests at once (queue max_size {config.queue_size} + {config.concurrency} "
                  f"running + {args.burst}): {burst.completed} completed, {len(burst.refused)} refused, "
                  f"{len(burst.errors)} other errors; served normally afterwards: {burst.served_after}")
            for message in sorted(set(burst.refused)):
                print(f"  refused with: \"{message}\"")
            for message in sorted(set(burst.errors))[:5]:
                print(f"  error: {message}")
            ok = ok and not burst.errors and burst.served_after and burst.completed + len(burst.refused) == sent
    finally:
        demo.close()
    print("\nresult:", "all requests succeeded with identical results" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
