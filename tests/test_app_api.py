"""The studio launched on 127.0.0.1 and called through gradio_client, as a Space user would."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app import build_demo, launch_kwargs
from app.config import AppConfig
from app.testing import tiny_restorer
import core
from core import WeightsNotFoundError

gradio_client = pytest.importorskip("gradio_client")


def serve(demo, config):
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    return url


@pytest.fixture(scope="module")
def studio(one_thread_module, tmp_path_factory):
    config = AppConfig(max_pixels=200_000, cache_dir=str(tmp_path_factory.mktemp("cache")))
    restorer, note = tiny_restorer(specialists=("noise",), ensemble="mirror")   # as the shipped default
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
    assert set(api["named_endpoints"]) == {"/restore", "/status"}  # the page's own events stay undocumented
    restore = api["named_endpoints"]["/restore"]
    params = {p["parameter_name"]: p for p in restore["parameters"]}
    assert list(params) == ["image", "degradation", "text", "tiling", "model", "mode", "ensemble"]
    assert not params["image"]["parameter_has_default"]
    assert {k: params[k]["parameter_default"] for k in ("degradation", "text", "tiling", "model", "mode", "ensemble")} == \
        {"degradation": "auto", "text": "", "tiling": "auto", "model": "vlunet-tiny", "mode": None, "ensemble": None}
    assert [r["label"] for r in restore["returns"]] == ["restored", "details", "summary"]
    png, details, summary = client.predict(gradio_client.handle_file(image), api_name="/restore")  # defaults
    expected = restorer.restore(image)
    single = restorer.restore(image, ensemble="none")
    assert not np.array_equal(np.asarray(expected.image), np.asarray(single.image))   # two passes, not one
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(expected.image))
    assert details["probabilities"] == pytest.approx(expected.degradation, abs=1e-6)
    assert details["detected"] == max(expected.degradation, key=expected.degradation.get)
    assert details["steering"] == "auto" and details["size"] == [61, 45] and details["words"] is None
    assert details["mode"] == "one-by-one" == restorer.default_mode   # the default of a model with specialists
    assert details["network"] == expected.network and details["ensemble"] == "mirror" == restorer.default_ensemble
    assert isinstance(details["unsure"], bool) and summary.startswith("**Restored 61×45**")
    assert "self-ensemble of 2" in summary
    assert client.predict(api_name="/status").startswith("Model ready")


def test_restore_streams_a_note_before_the_result(studio, image):
    client, _ = studio
    job = client.submit(gradio_client.handle_file(image), tiling="off", api_name="/restore")
    final = job.result()
    outputs = job.outputs()
    assert outputs[0][2].startswith("Restoring 61×45…") and outputs[-1] == final
    assert final[2].startswith("**Restored 61×45**")


def test_language_steering_through_the_api(studio, image):
    client, _ = studio
    _, details, summary = client.predict(gradio_client.handle_file(image), degradation="text", text="remove the fog",
                                         tiling="off", api_name="/restore")
    assert "“remove the fog”" in summary and details["steering"] == "text:remove the fog"
    words = details["words"]
    assert set(words["read_as"]) == set(details["probabilities"]) and abs(sum(words["read_as"].values()) - 1) < 1e-4
    assert isinstance(words["matches_a_degradation"], bool) and words["closest_prompt"]
    *_, summary = client.predict(gradio_client.handle_file(image), "noise_25", "", "off", api_name="/restore")
    assert "steered to *Noise σ=25*" in summary


def test_one_by_one_through_the_api(studio, image):
    client, restorer = studio
    png, details, summary = client.predict(gradio_client.handle_file(image), "noise_25", "", "off", "vlunet-tiny",
                                           "one-by-one", api_name="/restore")
    alone = core.Restorer(restorer.specialists["noise"], restorer.encoder, ensemble="mirror").restore(
        image, degradation="noise_25")
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(alone.image))
    assert details["mode"] == "one-by-one" and details["network"] == "noise specialist"
    assert "· restored by the noise specialist (one-by-one)" in summary


def test_self_ensemble_through_the_api(studio, image):
    client, restorer = studio
    png, details, summary = client.predict(gradio_client.handle_file(image), "noise_25", "", "off", "vlunet-tiny",
                                           "one-by-one", "flips", api_name="/restore")
    expected = restorer.restore(image, degradation="noise_25", tile=0, mode="one-by-one", ensemble="flips")
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(expected.image))
    single = restorer.restore(image, degradation="noise_25", tile=0, mode="one-by-one", ensemble="none")
    assert not np.array_equal(np.asarray(expected.image), np.asarray(single.image))
    assert details["ensemble"] == "flips" and "self-ensemble of 4" in summary
    with pytest.raises(gradio_client.exceptions.AppError, match="ensemble must be one of none, mirror, flips, dihedral"):
        client.predict(gradio_client.handle_file(image), ensemble="x8", api_name="/restore")


def test_the_mode_control_is_shown_only_for_a_model_with_specialists():
    for specialists, shown, passes_default in (((), False, "none"), (("noise",), True, "mirror")):
        made = tiny_restorer(specialists=specialists, ensemble=passes_default)
        demo = build_demo(AppConfig(), restorer_factory=lambda cfg, made=made: made)
        [mode] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "mode-choice"]
        assert mode.visible is False and mode.value is None   # until the model is known: its default
        fns = {fn.api_name: fn for fn in demo.fns.values()}
        [passes] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "ensemble-choice"]
        assert passes.value is None   # until the model is known: its default
        for name in ("mode_choice", "mode_choice_model"):   # on page load, and when the model changes
            assert fns[name].outputs == [mode, passes]
            shown_now, passes_now = fns[name].fn("vlunet-tiny")
            assert shown_now.visible is shown and shown_now.value == ("one-by-one" if shown else "all-in-one")
            assert passes_now.value == passes_default   # the Self-ensemble control follows the model


def test_bad_requests_come_back_as_one_line_errors(studio, image, tmp_path):
    client, _ = studio
    with pytest.raises(gradio_client.exceptions.AppError, match="remove the fog"):
        client.predict(gradio_client.handle_file(image), "text", " ", "auto", api_name="/restore")
    with pytest.raises(gradio_client.exceptions.AppError, match="guidance must be one of"):
        client.predict(gradio_client.handle_file(image), "fog", "", "auto", api_name="/restore")
    with pytest.raises(gradio_client.exceptions.AppError, match="tiling must be"):
        client.predict(gradio_client.handle_file(image), "auto", "", "huge", api_name="/restore")
    with pytest.raises(gradio_client.exceptions.AppError, match="mode must be one of all-in-one, one-by-one"):
        client.predict(gradio_client.handle_file(image), mode="specialists", api_name="/restore")
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
    # restores wait in the model's own line (app.jobs: one runs at a time), so a waiting page can say where it is
    for name in ("restore", "restore_page", "restore_example", "contact_sheet"):
        fn = next(fn for fn in fns if fn.api_name == name)
        assert fn.concurrency_id == "restore" and fn.concurrency_limit == 9
    assert next(fn for fn in fns if fn.api_name == "unfolding").concurrency_id == "model"
    assert demo._queue.max_size == 9 and demo._queue.default_concurrency_limit == 1
