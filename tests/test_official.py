"""The authors' checkpoints: key mapping over the full network, and output parity."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import core
from core.official import OfficialCheckpointError, map_official_keys


def _fixture(shared_dir):
    path = shared_dir / "fixtures" / "official_vlunet_parity.safetensors"
    if not path.is_file():
        pytest.skip(f"parity fixture {path} is absent")
    with safe_open(str(path), "pt") as f:
        config = json.loads(f.metadata()["config"])
    tensors = load_file(str(path))
    state = {k[len("state_dict."):]: v for k, v in tensors.items() if k.startswith("state_dict.")}
    return config, state, tensors


def test_every_authors_key_maps_to_ours_with_its_shape(shared_dir):
    ref = json.loads((shared_dir / "reference" / "official_vlunet_full_keys.json").read_text())
    shapes = ref["state_dict_shapes"]
    theirs = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    ours = core.create_model("vlunet-paper").state_dict()
    mapped = map_official_keys(theirs)
    assert set(mapped) == set(ours)
    assert all(tuple(mapped[k].shape) == tuple(ours[k].shape) for k in ours)


def test_parity_with_the_authors_output(shared_dir):
    config, state, t = _fixture(shared_dir)
    model = core.load_official(state, **config)
    assert not model.training
    with torch.no_grad():
        out = model(t["input"], t["degradation"])
    assert (out - t["output"]).abs().max().item() <= 1e-4


def test_lightning_checkpoint_loads_from_disk(shared_dir, tmp_path):
    config, state, t = _fixture(shared_dir)
    ckpt = {"epoch": 3, "state_dict": {**{f"net.{k}": v for k, v in state.items()},
                                       "model_degradation.ad_imageEncoder.adapter.0.weight": torch.zeros(2)}}
    path = tmp_path / "epoch=3.ckpt"
    torch.save(ckpt, path)
    model = core.load_official(path, **config)
    with torch.no_grad():
        out = model(t["input"], t["degradation"])
    assert (out - t["output"]).abs().max().item() <= 1e-4


def test_unsafe_or_mismatched_files_are_refused(shared_dir, tmp_path):
    config, state, _ = _fixture(shared_dir)

    evil = tmp_path / "evil.pth"  # an arbitrary pickled object: weights_only loading refuses it
    torch.save({"state_dict": argparse.Namespace(payload=1)}, evil)
    with pytest.raises(OfficialCheckpointError, match="cannot read"):
        core.load_official(evil, **config)
    with pytest.raises(ValueError, match="does not match"):
        core.load_official(state, **{**config, "dim": 12})
    with pytest.raises(OfficialCheckpointError, match="unrecognised"):
        core.load_official({**state, "mystery.weight": torch.zeros(1)}, **config)
    with pytest.raises(FileNotFoundError):
        core.load_official(tmp_path / "absent.ckpt", **config)


def test_the_configuration_is_read_from_the_tensors(shared_dir):
    """Both fixtures' sizes, the authors' default network, and a five-key (single-task) variant of it."""
    from core.official import infer_net_config
    from core.official.keys import AUTHORS_DEFAULTS

    config, state, _ = _fixture(shared_dir)
    inferred = infer_net_config(state)
    assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in inferred.items() if k in config} == config
    shapes = json.loads((shared_dir / "reference" / "official_vlunet_full_keys.json").read_text())["state_dict_shapes"]
    full = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    assert infer_net_config(full) == AUTHORS_DEFAULTS
    five = {k: (torch.empty([v.shape[0], 5, *v.shape[2:]], device="meta") if k.endswith("prompt_param") else
                torch.empty([5, *v.shape[1:]], device="meta") if ".gradient_descent.linear." in k else v)
            for k, v in full.items()}
    args = infer_net_config(five)
    assert args["de_dim"] == 5
    ours = core.create_model("vlunet-paper", de_dim=5).state_dict()
    mapped = map_official_keys(five)
    assert all(tuple(mapped[k].shape) == tuple(ours[k].shape) for k in ours)
