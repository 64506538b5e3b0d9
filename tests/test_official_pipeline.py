"""The authors' whole test-time pipeline (their CLIP, adapters, raw d_I, network) against the
fixture made by running their code: stage by stage, from the uint8 image, through each route a
researcher's files can take (state dict, Lightning ``.ckpt``, ``clip_tuned.pth``, their folder,
a converted safetensors file)."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import core
from core.encoder import BackboneUnavailableError
from core.official import OfficialCheckpointError, crop_to_multiple, load_release
from core.official.__main__ import main as official_main

from conftest import SHARED

CLIP = "model_degradation.ad_imageEncoder.clip_model."
CLIP_TEXT = "model_degradation.ad_textEncoder.clip_model."


@pytest.fixture(scope="module")
def pipeline():
    path = SHARED / "fixtures" / "official_pipeline_parity.safetensors"
    if not path.is_file():
        pytest.skip(f"pipeline fixture {path} is absent")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    state = {k[len("state_dict."):]: v for k, v in tensors.items() if k.startswith("state_dict.")}
    return dict(state=state, t=tensors, clip_config=json.loads(meta["clip_config"]), stages=json.loads(meta["stages"]))


def _authors_input(image_uint8: torch.Tensor) -> torch.Tensor:
    """Their crop_img(base=16) then ToTensor: H x W x 3 uint8 -> 1 x 3 x H' x W' in [0, 1]."""
    return crop_to_multiple(image_uint8.permute(2, 0, 1).float().div(255))[None]


def _check_output(restorer: core.Restorer, pipeline, index: int = 0) -> None:
    t = pipeline["t"]
    x = _authors_input(t[f"image{index}_uint8"])
    guide = restorer.guidance(x)
    with torch.no_grad():
        out = restorer.network(x, guide.d)
    assert (out - t[f"output{index}"]).abs().max().item() <= 1e-4


def _ckpt_state(pipeline, adapters: bool = True) -> dict:
    """The fixture's state as their Lightning module's state_dict: the CLIP under both prefixes."""
    state = dict(pipeline["state"])
    state.update({CLIP_TEXT + k[len(CLIP):]: v for k, v in pipeline["state"].items() if k.startswith(CLIP)})
    if not adapters:
        state = {k: v for k, v in state.items() if ".adapter." not in k}
    return state


@pytest.mark.parametrize("index", [0, 1])
def test_stage_by_stage_from_the_uint8_image(pipeline, index):
    t = pipeline["t"]
    release = load_release(pipeline["state"], clip_config=pipeline["clip_config"])
    restorer = core.Restorer(release.network, release.encoder)
    x = _authors_input(t[f"image{index}_uint8"])
    assert (x - t[f"input{index}"]).abs().max().item() == 0
    backbone = restorer.encoder.backbone
    assert (backbone.preprocess(x) - t[f"clip_input{index}"]).abs().max().item() <= 1e-6
    features = restorer.encoder.encode_image_raw(x)
    assert (features - t[f"clip_features{index}"]).abs().max().item() <= 1e-5
    guide = restorer.guidance(x)   # auto: d_I as the network was trained with it (raw)
    assert guide.source == "auto"
    assert (guide.d - t[f"d{index}"]).abs().max().item() <= 1e-5
    assert abs(guide.d.norm().item() - t[f"d{index}"].norm().item()) < 1e-3   # not normalised
    with torch.no_grad():
        out, stages = restorer.network(x, guide.d, trace=True)
    assert [s.name for s in stages] == pipeline["stages"]
    weights = torch.cat([s.weights for s in stages])
    assert (weights - t[f"retrieval_weights{index}"]).abs().max().item() <= 1e-5
    assert (out - t[f"output{index}"]).abs().max().item() <= 1e-4
    result = restorer.restore(x[0], tile=0)   # the whole Restorer path: same output, clamped
    assert (result.tensor - t[f"output{index}"][0].clamp(0, 1)).abs().max().item() <= 1e-4


def test_unit_vectors_would_flatten_the_authors_retrieval(pipeline):
    """Why the convention matters: fed a unit d_I, every stage's retrieval moves toward uniform."""
    t = pipeline["t"]
    network = core.load_official({k[4:]: v for k, v in pipeline["state"].items() if k.startswith("net.")})
    assert network.config.degradation_vector == "raw"
    unit = torch.nn.functional.normalize(t["d0"], dim=-1)
    with torch.no_grad():
        _, stages = network(t["input0"], unit, trace=True)
    flat = torch.cat([s.weights for s in stages])
    assert flat.max().item() < 0.25 < t["retrieval_weights0"].max().item()


def test_lightning_ckpt_with_clip_under_both_prefixes(pipeline, tmp_path):
    path = tmp_path / "3task_vlunet.ckpt"
    torch.save({"epoch": 199, "global_step": 1, "state_dict": _ckpt_state(pipeline)}, path)
    restorer = core.Restorer.from_official(path, clip_config=pipeline["clip_config"])
    _check_output(restorer, pipeline, 0)
    _check_output(restorer, pipeline, 1)
    # the authors' folder resolves to its default checkpoint
    release = load_release(tmp_path, clip_config=pipeline["clip_config"])
    assert release.checkpoint == path and "3task_vlunet.ckpt" in release.sources["clip"]


def test_adapters_from_clip_tuned_pth_beside_the_ckpt(pipeline, tmp_path):
    torch.save({"state_dict": _ckpt_state(pipeline, adapters=False)}, tmp_path / "5task_vlunet.ckpt")
    learnable = {k[len("model_degradation."):]: v for k, v in pipeline["state"].items() if ".adapter." in k}
    torch.save({"epoch": 90, "learnable_params": learnable}, tmp_path / "clip_tuned.pth")
    release = load_release(tmp_path / "5task_vlunet.ckpt", clip_config=pipeline["clip_config"])
    assert release.sources["adapters"].endswith("clip_tuned.pth")
    _check_output(core.Restorer(release.network, release.encoder), pipeline)


def test_missing_adapters_and_offline_clip_are_one_line_errors(pipeline, tmp_path, monkeypatch):
    torch.save({"state_dict": _ckpt_state(pipeline, adapters=False)}, tmp_path / "net_only.ckpt")
    with pytest.raises(OfficialCheckpointError, match="holds no adapters.*clip_tuned.pth") as info:
        load_release(tmp_path / "net_only.ckpt", clip_config=pipeline["clip_config"])
    assert "\n" not in str(info.value)
    no_clip = {k: v for k, v in pipeline["state"].items() if "clip_model." not in k}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hub"))
    with pytest.raises(BackboneUnavailableError, match="ViT-B-32/laion2b_s34b_b79k") as info:
        load_release(no_clip)
    assert "\n" not in str(info.value)


def test_a_pickled_checkpoint_is_refused_and_converted_on_request(pipeline, tmp_path, capsys):
    path = tmp_path / "3task_vlunet.ckpt"
    torch.save({"state_dict": _ckpt_state(pipeline), "hyper_parameters": argparse.Namespace(lr=2e-4)}, path)
    with pytest.raises(OfficialCheckpointError, match=r"weights_only=True.*python -m core.official convert") as info:
        core.Restorer.from_official(path, clip_config=pipeline["clip_config"])
    assert "\n" not in str(info.value)
    out = tmp_path / "3task_vlunet.safetensors"
    assert official_main(["convert", str(path), str(out)]) == 2          # refused without --trust-pickle
    assert "weights_only" in capsys.readouterr().err
    assert official_main(["convert", str(path), str(out), "--trust-pickle"]) == 0
    keys = load_file(str(out)).keys()
    assert not any(k.startswith(CLIP_TEXT) for k in keys)                # the CLIP stored once
    _check_output(core.Restorer.from_official(out, clip_config=pipeline["clip_config"]), pipeline, 1)


def test_authors_detection_and_steering_use_their_prompts_and_raw_vectors(pipeline):
    release = load_release(pipeline["state"], clip_config=pipeline["clip_config"])
    encoder = release.encoder
    assert encoder.config.scoring == "dot"
    assert encoder.prompts("noise_25") == ("image with many noise",)
    x = _authors_input(pipeline["t"]["image0_uint8"])
    d = encoder.encode_image(x)
    text = encoder.encode_text(["image with rain"])
    assert torch.allclose(encoder.class_vector("rain"), text[0], atol=1e-6)
    expected = (d @ encoder.class_embeddings.t()).softmax(-1)   # their notebook: raw dot products
    assert torch.allclose(encoder.probabilities(d), expected)
    restorer = core.Restorer(release.network, encoder)
    steered = restorer.guidance(x, "rain")
    assert steered.source == "class:rain" and torch.allclose(steered.d, text, atol=1e-6)   # raw, as trained
    worded = restorer.guidance(x, "remove the rain streaks")
    assert abs(worded.d.norm().item() - 1.0) > 1.0   # free text fed raw too


def test_evaluate_runs_the_authors_release_with_their_protocol(pipeline, tmp_path, capsys):
    """``training.evaluate --checkpoint X.ckpt --suite 3task``: their CLIP and adapters, every image
    and its ground truth cropped to a multiple of 16, the network on the whole crop."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from core.metrics import psnr
    from training import evaluate as ev

    g = np.random.default_rng(0)
    root = tmp_path / "data"
    files = {"denoise/CBSD68/original_png/1.png": None, "derain/Rain100L/input/1.png": "derain/Rain100L/target/1.png",
             "dehaze/SOTS/hazy/0001_0.8_0.2.jpg": "dehaze/SOTS/gt/0001.png"}
    for degraded, clean in files.items():
        for rel in filter(None, (degraded, clean)):
            (root / "Test" / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(g.integers(0, 255, (53, 70, 3), dtype=np.uint8)).save(root / "Test" / rel)
    ckpt = tmp_path / "3task_vlunet.ckpt"
    torch.save({"state_dict": _ckpt_state(pipeline)}, ckpt)
    out = tmp_path / "eval"
    code = ev.main(["--checkpoint", str(ckpt), "--suite", "3task", "--data-root", str(root), "--out", str(out),
                    "--clip-config", json.dumps(pipeline["clip_config"])])
    assert code == 0, capsys.readouterr().err
    rows = pd.read_csv(out / "per_image.csv")
    assert sorted(rows["task"]) == ["cbsd68_15", "cbsd68_25", "cbsd68_50", "rain100l", "sots_outdoor"]
    assert rows["detected"].isin(core.encoder.LABELS).all()   # their detection ran
    # one image by hand, as their test.py does it
    restorer = core.Restorer.from_official(ckpt, clip_config=pipeline["clip_config"])
    rainy = np.array(Image.open(root / "Test/derain/Rain100L/input/1.png").convert("RGB"))
    x = _authors_input(torch.from_numpy(rainy))
    assert x.shape[-2:] == (48, 64)
    target = _authors_input(torch.from_numpy(np.array(Image.open(root / "Test/derain/Rain100L/target/1.png"))))
    with torch.no_grad():
        restored = restorer.network(x, restorer.guidance(x).d).clamp(0, 1)
    expected = psnr(restored, target)
    got = rows.loc[rows["task"].str.contains("rain"), "psnr"].item()
    assert abs(got - expected) < 1e-4


def test_the_studio_runs_the_authors_ckpt(pipeline, tmp_path, one_thread):
    """``VLUNET_MODEL=.../3task_vlunet.ckpt python app.py``: restore through gradio_client, then the
    Unfolding view reports the authors' retrieval weights, stage by stage; the atlas draws their CLIP."""
    import numpy as np
    from PIL import Image

    gradio_client = pytest.importorskip("gradio_client")
    from app import build_demo, launch_kwargs
    from app.config import AppConfig
    from app.testing import PCAReducer

    ckpt = tmp_path / "pretrained_ckpt" / "3task_vlunet.ckpt"
    ckpt.parent.mkdir()
    torch.save({"state_dict": _ckpt_state(pipeline)}, ckpt)
    t = pipeline["t"]
    photo = tmp_path / "photo.png"   # the authors' input (cropped to 64 x 96): their pipeline exactly
    Image.fromarray((t["input0"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(photo)
    assert (_authors_input(torch.from_numpy(np.array(Image.open(photo)))) - t["input0"]).abs().max() == 0
    config = AppConfig(model=str(ckpt), official=str(ckpt.parent), clip_config=json.dumps(pipeline["clip_config"]),
                       cache_dir=str(tmp_path / "cache"))
    demo = build_demo(config)
    demo.studio_atlases.default_atlas.reducer = PCAReducer
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs(config))
    try:
        client = gradio_client.Client(url, verbose=False)
        status = client.predict(api_name="/status")
        assert "the authors' network `3task_vlunet.ckpt (authors')`" in status and "512×512 photo takes about" in status
        png, details, summary = client.predict(gradio_client.handle_file(str(photo)), "auto", "", "auto",
                                               api_name="/restore")
        assert "Restored 96×64" in summary and len(details["probabilities"]) == 7
        restored = np.asarray(Image.open(png).convert("RGB")).astype(np.float32) / 255
        expected = t["output0"][0].clamp(0, 1).permute(1, 2, 0).numpy()
        assert np.abs(restored - expected).max() <= 1 / 255 + 1e-6   # the fixture's output, quantised
        gallery, note, stage, *_, weights_plot, _ = client.predict(api_name="/unfolding")
        z = json.loads(weights_plot["plot"])["data"][0]["z"]
        if isinstance(z, dict):   # plotly's typed-array encoding
            import base64
            z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(z["shape"].split(", ") and
                                                                                    [int(n) for n in z["shape"].split(",")])
        assert np.abs(np.array(z, dtype=np.float64) - t["retrieval_weights0"].numpy()).max() <= 1e-5
        before, after, atlas_note = client.predict(str(ckpt), api_name="/atlas")
        assert "126 degraded crops; 7 prompts" in atlas_note   # bundled photos x 7 classes; their seven prompts
        assert before["type"] == after["type"] == "plotly"
    finally:
        demo.close()
