"""The studio launched on 127.0.0.1 and called through gradio_client, as a Space user would."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app import build_demo, launch_kwargs
from app.config import AppConfig
from app.testing import tiny_restorer
from core import WeightsNotFoundError

gradio_client = pytest.importorskip("gradio_client")


def serve(demo, config):
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    return url


@pytest.fixture(scope="module")
def studio(one_thread_module, tmp_path_factory):
    config = AppConfig(max_pixels=200_000, cache_dir=str(tmp_path_factory.mktemp("cache")))
    restorer, note = tiny_restorer()
    demo = build_demo(config, restorer_factory=lambda cfg: (restorer, note))
    url = serve(demo, config)
    yield gradio_client.Client(url, verbose=False), restorer
    demo.close()


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray((rng.random((45, 61, 3)) * 255).astype(np.uint8)).save(path)
    return str(path)


def test_restore_endpoint_is_documented_and_returns_the_restored_png(studio, image):
    client, restorer = studio
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/restore", "/status"}  # the UI-only events stay undocumented
    params = {p["parameter_name"]: p for p in api["named_endpoints"]["/restore"]["parameters"]}
    assert list(params) == ["path", "choice", "text", "tiling", "model"]
    assert params["model"]["parameter_has_default"] and params["model"]["parameter_default"] == "vlunet-tiny"
    pair, chart, summary, png = client.predict(gradio_client.handle_file(image), "auto", "", "auto", api_name="/restore")
    expected = np.asarray(restorer.restore(image).image)
    assert np.array_equal(np.asarray(Image.open(png)), expected)
    assert np.array_equal(np.asarray(Image.open(pair[1]).convert("RGB")), expected)
    assert np.array_equal(np.asarray(Image.open(pair[0]).convert("RGB")), np.asarray(Image.open(image)))
    assert chart["type"] == "plotly" and "Detected:" in chart["plot"]
    assert summary.startswith("**Restored 61×45**")
    assert client.predict(api_name="/status").startswith("Model ready")


def test_restore_streams_a_note_before_the_result(studio, image):
    client, _ = studio
    job = client.submit(gradio_client.handle_file(image), "auto", "", "off", api_name="/restore")
    final = job.result()
    outputs = job.outputs()
    assert outputs[0][2] == "Restoring 61×45…" and outputs[-1] == final
    assert final[2].startswith("**Restored 61×45**")


def test_language_steering_through_the_api(studio, image):
    client, _ = studio
    *_, summary, _ = client.predict(gradio_client.handle_file(image), "text", "remove the fog", "off", api_name="/restore")
    assert "“remove the fog”" in summary
    *_, summary, _ = client.predict(gradio_client.handle_file(image), "noise_25", "", "off", api_name="/restore")
    assert "steered to *Noise σ=25*" in summary


def test_bad_requests_come_back_as_one_line_errors(studio, image, tmp_path):
    client, _ = studio
    with pytest.raises(gradio_client.exceptions.AppError, match="remove the fog"):
        client.predict(gradio_client.handle_file(image), "text", " ", "auto", api_name="/restore")
    with pytest.raises(gradio_client.exceptions.AppError, match="guidance must be one of"):
        client.predict(gradio_client.handle_file(image), "fog", "", "auto", api_name="/restore")
    with pytest.raises(gradio_client.exceptions.AppError, match="tiling must be"):
        client.predict(gradio_client.handle_file(image), "auto", "", "huge", api_name="/restore")
    with pytest.raises(gradio_client.exceptions.AppError, match="no image"):
        client.predict(None, "auto", "", "auto", api_name="/restore")
    big = tmp_path / "big.png"
    Image.new("RGB", (600, 400)).save(big)
    with pytest.raises(gradio_client.exceptions.AppError, match=r"600×400 = 0.2 megapixels"):
        client.predict(gradio_client.handle_file(str(big)), "auto", "", "auto", api_name="/restore")


def test_missing_weights_are_reported_not_crashed(one_thread, image, tmp_path):
    def missing(cfg):
        raise WeightsNotFoundError("the shipped weights 'vlunet-tiny' are missing; create them with `python -m "
                                   "training.train_restorer --config training/configs/vlunet-tiny.yaml`")
    config = AppConfig(cache_dir=str(tmp_path))
    demo = build_demo(config, restorer_factory=missing)
    try:
        client = gradio_client.Client(serve(demo, config), verbose=False)
        assert "Restoration weights are not available" in client.predict(api_name="/status")
        with pytest.raises(gradio_client.exceptions.AppError, match="train_restorer"):
            client.predict(gradio_client.handle_file(image), "auto", "", "auto", api_name="/restore")
    finally:
        demo.close()


def test_build_demo_loads_nothing_names_every_event_and_queues_one_restore():
    calls = []
    demo = build_demo(AppConfig(queue_size=9), restorer_factory=lambda cfg: calls.append(cfg))
    assert calls == [] and not demo.studio_holder.loaded
    fns = list(demo.fns.values())
    assert all(fn.api_name for fn in fns)
    restore = next(fn for fn in fns if fn.api_name == "restore")
    assert restore.concurrency_limit == 1 and restore.concurrency_id == "model"
    assert demo._queue.max_size == 9 and demo._queue.default_concurrency_limit == 1
