"""Self-ensemble (core.ensemble): the dihedral transforms, the averaged map, and the Restorer's
``ensemble=`` option on real sizes, tiles and the command line."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

import core
from core.__main__ import main as cli
from core.ensemble import ENSEMBLES, check_ensemble, dihedral, self_ensemble, undo_dihedral


def test_eight_transforms_are_distinct_and_undone():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)
    outs = [dihedral(x, m) for m in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    assert all(torch.equal(undo_dihedral(o, m), x) for m, o in enumerate(outs))
    assert ENSEMBLES["flips"] == (0, 2, 4, 6)     # no quarter turn: vertical streaks stay vertical
    assert all(dihedral(torch.zeros(1, 3, 8, 16), m).shape[-2:] == (8, 16) for m in ENSEMBLES["flips"])


def test_the_ensemble_averages_the_transformed_passes():
    calls = []

    def shift_right(t):                                   # not equivariant: each pass differs
        calls.append(t.shape)
        return torch.roll(t, 1, dims=-1)

    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert self_ensemble(shift_right, "none") is shift_right
    calls.clear()
    out = self_ensemble(shift_right, "flips")(x)
    expected = torch.stack([undo_dihedral(torch.roll(dihedral(x, m), 1, dims=-1), m) for m in (0, 2, 4, 6)]).mean(0)
    assert len(calls) == 4 and torch.allclose(out, expected)
    identity = self_ensemble(lambda t: t * 1.0, "dihedral")
    assert torch.allclose(identity(x), x)                  # an equivariant map is unchanged
    with pytest.raises(ValueError, match="ensemble must be one of"):
        check_ensemble("x8")


def test_restorer_ensemble_on_odd_sizes_and_tiles(tiny_net):
    restorer = core.Restorer(tiny_net)
    x = torch.rand(3, 37, 29, generator=torch.Generator().manual_seed(1))
    single = restorer.restore(x, degradation="uniform", tile=0).tensor
    flips = restorer.restore(x, degradation="uniform", tile=0, ensemble="flips")
    assert flips.tensor.shape == single.shape and 0 <= flips.tensor.min() and flips.tensor.max() <= 1
    assert not torch.allclose(flips.tensor, single)        # four passes of a network are not one
    tiled = restorer.restore(x, degradation="uniform", tile=16, overlap=4, ensemble="dihedral")
    assert tiled.tensor.shape == single.shape
    with pytest.raises(ValueError, match="ensemble='none'"):
        restorer.restore(x, degradation="uniform", trace=True, ensemble="flips")
    with pytest.raises(ValueError, match="ensemble must be one of"):
        restorer.restore(x, degradation="uniform", ensemble="best")
    restorer.calibrate(side=32)
    assert restorer.estimate_seconds(64, 64, "flips") == pytest.approx(4 * restorer.estimate_seconds(64, 64))


def test_command_line_ensemble(tiny_net, tmp_path):
    weights = core.save_model(tiny_net, tmp_path / "w.safetensors")
    image = tmp_path / "in.png"
    Image.new("RGB", (30, 20), (120, 80, 40)).save(image)
    assert cli(["restore", str(image), "-o", str(tmp_path / "out"), "--weights", str(weights),
                "--no-encoder", "--ensemble", "flips"]) == 0
    assert Image.open(tmp_path / "out" / "in_restored.png").size == (30, 20)
    with pytest.raises(SystemExit):
        cli(["restore", str(image), "-o", str(tmp_path / "out"), "--ensemble", "x8"])


def test_a_restorer_default_ensemble_serves_restore_without_one(tiny_net):
    x = torch.rand(3, 24, 40, generator=torch.Generator().manual_seed(2))
    mirrored = core.Restorer(tiny_net, ensemble="mirror")
    assert ENSEMBLES["mirror"] == (0, 4)                   # the identity and the left-right mirror
    by_default = mirrored.restore(x, degradation="uniform", tile=0).tensor
    assert torch.equal(by_default, mirrored.restore(x, degradation="uniform", tile=0, ensemble="mirror").tensor)
    single = mirrored.restore(x, degradation="uniform", tile=0, ensemble="none").tensor
    assert not torch.allclose(by_default, single)
    assert torch.equal(single, core.Restorer(tiny_net).restore(x, degradation="uniform", tile=0).tensor)
    traced = mirrored.restore(x, degradation="uniform", tile=0, trace=True)   # the trace is one pass
    assert torch.equal(traced.tensor, single) and traced.stages
    mirrored.calibrate(side=32)
    assert mirrored.estimate_seconds(64, 64) == pytest.approx(mirrored.estimate_seconds(64, 64, "mirror"))
    assert mirrored.estimate_seconds(64, 64) == pytest.approx(2 * mirrored.estimate_seconds(64, 64, "none"))
    with pytest.raises(ValueError, match="ensemble must be one of"):
        core.Restorer(tiny_net, ensemble="x2")


def test_shipped_weights_restore_with_the_mirror_pair_and_a_path_with_one_pass(tmp_path, tiny_net):
    from core.pretrained import PRETRAINED, default_ensemble
    assert default_ensemble() == default_ensemble("vlunet-tiny") == "mirror"
    assert all(entry.ensemble == "mirror" for entry in PRETRAINED.values())   # measured: docs/results.md
    weights = core.save_model(tiny_net, tmp_path / "w.safetensors")
    assert default_ensemble(weights) == default_ensemble(str(weights)) == "none"
    restorer = core.Restorer.from_pretrained(weights, encoder=None)
    assert restorer.default_ensemble == "none"
    assert core.Restorer.from_pretrained(weights, encoder=None, ensemble="flips").default_ensemble == "flips"
