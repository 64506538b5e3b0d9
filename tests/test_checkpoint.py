"""Our safetensors checkpoints: exact round trip, clear errors and the checksum of their tensors."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

import core
from core.checkpoint import CheckpointError, checkpoint_info, read_metadata, tensor_digest, verify_digest


def test_round_trip_is_exact(tiny_net, tmp_path, rng):
    path = core.save_model(tiny_net, tmp_path / "w.safetensors", info={"steps": 7})
    loaded = core.load_model(path)
    assert loaded.config == tiny_net.config
    for (k, a), (_, b) in zip(tiny_net.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    x, d = torch.rand(1, 3, 16, 16, generator=rng), torch.randn(1, 512, generator=rng)
    with torch.no_grad():
        assert torch.equal(tiny_net(x, d), loaded(x, d))
    assert checkpoint_info(path) == {"steps": 7}
    assert not list(tmp_path.glob("*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any saved file, not private
    os.umask(0o027)
    try:
        assert core.save_model(tiny_net, tmp_path / "group.safetensors").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_corrupt_and_foreign_files_give_one_clear_error(tiny_net, tmp_path):
    good = core.save_model(tiny_net, tmp_path / "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 definitely not a checkpoint" * 10)
    for bad in (truncated, garbage):
        with pytest.raises(CheckpointError) as err:
            core.load_model(bad)
        assert "\n" not in str(err.value)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a VLU-Net checkpoint"):
        core.load_model(foreign)
    with pytest.raises(FileNotFoundError):
        core.load_model(tmp_path / "absent.safetensors")


def test_config_and_weights_that_disagree_name_the_keys(tiny_net, tiny_net_kwargs, tmp_path):
    tensors = {k: v.contiguous() for k, v in tiny_net.state_dict().items()}
    wider = dict(tiny_net_kwargs, dim=16)
    path = tmp_path / "mismatch.safetensors"
    save_file(tensors, str(path), metadata={"format": "vlunet", "config": json.dumps(wider)})
    with pytest.raises(CheckpointError, match="shape mismatch .*embed_x.weight"):
        core.load_model(path)
    bad_key = tmp_path / "badkey.safetensors"
    save_file(tensors, str(bad_key), metadata={"format": "vlunet", "config": json.dumps({"depth": 3})})
    with pytest.raises(CheckpointError, match="depth"):
        core.load_model(bad_key)


def test_flipped_bit_in_the_tensor_data_is_one_line_naming_the_file(tiny_net, tmp_path, flip_bit):
    path = core.save_model(tiny_net, tmp_path / "w.safetensors")
    assert read_metadata(path)["sha256"] == tensor_digest(tiny_net.state_dict())
    core.load_model(path)                                                   # intact: loads
    flip_bit(path)
    read_metadata(path)                                                     # the header still reads
    with pytest.raises(CheckpointError) as err:
        core.load_model(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "checksum" in message and "flipped bits" in message


def test_files_without_a_checksum_load_as_before(tiny_net, tmp_path, without_digest):
    path = core.save_model(tiny_net, tmp_path / "old.safetensors", info={"steps": 3})
    without_digest(path)
    assert "sha256" not in read_metadata(path)
    loaded = core.load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(tiny_net.state_dict().values(), loaded.state_dict().values()))
    assert checkpoint_info(path) == {"steps": 3}


def test_digest_covers_keys_dtypes_shapes_and_bytes():
    base = {"a": torch.arange(6.0), "b": torch.tensor(2.0)}
    digest = tensor_digest(base)
    assert digest == tensor_digest(dict(reversed(base.items())))           # key order does not matter
    transposed = torch.arange(6.0).reshape(3, 2).t()
    assert tensor_digest({"m": transposed}) == tensor_digest({"m": transposed.contiguous()})   # nor the layout
    changed = [{"a2": base["a"], "b": base["b"]}, {"a": base["a"].double(), "b": base["b"]},
               {"a": base["a"].reshape(2, 3), "b": base["b"]},
               {"a": base["a"].clone().index_fill_(0, torch.tensor([3]), 3.0000002), "b": base["b"]}]
    assert len({digest, *map(tensor_digest, changed)}) == 1 + len(changed)
    verify_digest("x", base, {})                                             # no checksum: nothing to check
    verify_digest("x", base, {"sha256": digest})
    with pytest.raises(ValueError, match="x: its tensors do not match"):
        verify_digest("x", base, {"sha256": tensor_digest(changed[0])}, error=ValueError)
