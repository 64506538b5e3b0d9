"""The load benchmark's code path, small: concurrent clients all succeed with identical results, and
a burst past the queue is refused with gradio's message while the server carries on."""
from __future__ import annotations

import time

import pytest

import core
from app.config import AppConfig
from app.testing import tiny_restorer
from benchmarks.load_app import main, restore_once, run_load, run_overflow, serve, make_image

pytest.importorskip("gradio_client")


class SlowRestorer(core.Restorer):
    """The tiny restorer taking 1 s a request, so that a burst finds the queue full."""

    def restore(self, *args, **kwargs):
        time.sleep(1.0)
        return super().restore(*args, **kwargs)


def test_concurrent_clients_get_the_single_request_result(tmp_path, one_thread):
    from gradio_client import Client
    restorer, note = tiny_restorer()
    config = AppConfig(cache_dir=str(tmp_path), queue_size=8)
    demo, url = serve(config, lambda cfg: (restorer, note))
    try:
        image = make_image(tmp_path / "load64.png", 64)
        reference = restore_once(Client(url, verbose=False), image)
        assert reference.shape == (64, 64, 3)
        load = run_load(url, image, reference, clients=4, requests=2, timeout=120)
    finally:
        demo.close()
    assert load.requests == 8 and load.errors == [] and load.mismatches == 0 and load.failures == 0
    assert len(load.latencies) == 8 and 0 < load.percentile(50) <= load.percentile(95) <= load.wall_s
    assert load.rss_peak_mib >= load.rss_before_mib > 0


def test_requests_past_the_queue_are_refused_with_a_message(tmp_path, one_thread):
    network, note = tiny_restorer()
    slow = SlowRestorer(network.network, network.encoder)
    config = AppConfig(cache_dir=str(tmp_path), queue_size=1, concurrency=1)
    demo, url = serve(config, lambda cfg: (slow, note))
    try:
        burst = run_overflow(url, make_image(tmp_path / "load32.png", 32), sent=4, timeout=60)
    finally:
        demo.close()
    assert burst.errors == [] and burst.served_after
    assert burst.completed >= 2 and burst.refused and burst.completed + len(burst.refused) == 4
    assert set(burst.refused) == {"Queue is full! Please try again."}


def test_the_benchmark_rejects_nonsense_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["--clients", "0"])
    assert "--clients must be at least 1" in capsys.readouterr().err
