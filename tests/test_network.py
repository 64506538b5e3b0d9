"""The VLU-Net network: shapes, registry, trace, gradients, uniform retrieval, bad input."""
from __future__ import annotations

import pytest
import torch

import core
from core.network import ConfigError, VLUNet, stage_specs
from core.tiling import apply_padded

STAGE_NAMES = ["encoder_level1", "encoder_level2", "encoder_level3", "latent",
               "decoder_level3", "decoder_level2", "decoder_level1", "refinement"]


@pytest.mark.parametrize("name", core.list_models())
def test_every_registered_model_restores_odd_sizes_without_nan(name, rng):
    torch.manual_seed(0)
    net = core.create_model(name).eval()
    x = torch.rand(1, 3, 37, 29, generator=rng)
    d = torch.randn(1, 512, generator=rng)
    with torch.no_grad():
        out = apply_padded(lambda t: net(t, d), x, net.multiple)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_paper_configuration_has_the_authors_parameter_count():
    net = core.create_model("vlunet-paper")
    assert sum(p.numel() for p in net.parameters()) == 35_353_028


def test_registry_lists_models_and_rejects_unknown_names_and_keys():
    assert {"vlunet-paper", "vlunet-tiny"} <= set(core.list_models())
    with pytest.raises(KeyError, match="registered models"):
        core.create_model("vlunet-huge")
    with pytest.raises(ConfigError, match="not_a_key"):
        core.create_model("vlunet-tiny", not_a_key=3)
    assert core.create_model("vlunet-tiny", de_dim=5).config.de_dim == 5


def test_config_rejects_heads_that_do_not_divide_channels():
    with pytest.raises(ConfigError, match="divisible"):
        VLUNet(dim=10, heads=(3, 2, 4, 8))


def test_stage_table_matches_the_paper():
    specs = stage_specs(core.model_config("vlunet-paper"))
    assert [s.name for s in specs] == STAGE_NAMES
    assert [s.level for s in specs] == [1, 2, 3, 4, 3, 2, 1, 1]
    assert [s.channels for s in specs] == [48, 96, 192, 384, 192, 96, 96, 96]
    assert [s.num_blocks for s in specs] == [4, 6, 6, 8, 6, 6, 4, 4]
    net = core.create_model("vlunet-paper")
    key_channels = [st.gdm.keys.database.shape[1] for st in net.stages]
    assert key_channels == [4, 18, 57, 152, 57, 18, 9, 9]


def test_trace_reports_every_stage(tiny_net, rng):
    x = torch.rand(2, 3, 32, 48, generator=rng)
    d = torch.randn(2, 512, generator=rng)
    with torch.no_grad():
        out, stages = tiny_net(x, d, trace=True)
        plain = tiny_net(x, d)
    assert torch.equal(out, plain)
    assert [s.name for s in stages] == STAGE_NAMES
    assert [s.resolution for s in stages] == [(32, 48), (16, 24), (8, 12), (4, 6), (8, 12), (16, 24),
                                              (32, 48), (32, 48)]
    for s, spec in zip(stages, stage_specs(tiny_net.config)):
        shape = (2, spec.channels, *s.resolution)
        assert s.after_gradient.shape == s.after_proximal.shape == s.correction.shape == shape
        assert s.weights.shape == (2, tiny_net.config.de_dim)
        assert torch.allclose(s.weights.sum(1), torch.ones(2))
        assert s.step == 1.0
    # the last proximal output is what the output projection sees
    with torch.no_grad():
        again = tiny_net.output(stages[-1].after_proximal) + x
    assert torch.allclose(out, again, atol=1e-6)
    # stages have their own retrieval layers, hence their own weights
    assert not torch.allclose(stages[0].weights, stages[3].weights)


def test_no_degradation_vector_means_uniform_retrieval(tiny_net, rng):
    x = torch.rand(1, 3, 16, 16, generator=rng)
    with torch.no_grad():
        out, stages = tiny_net(x, None, trace=True)
        guided = tiny_net(x, torch.randn(1, 512, generator=rng))
    assert torch.isfinite(out).all()
    for s in stages:
        assert torch.allclose(s.weights, torch.full_like(s.weights, 1 / tiny_net.config.de_dim))
    assert not torch.allclose(out, guided)


def test_gradients_reach_every_parameter(tiny_net, rng):
    tiny_net.train()
    x = torch.rand(2, 3, 16, 24, generator=rng)
    d = torch.randn(2, 512, generator=rng)
    tiny_net(x, d).sub(x).abs().mean().backward()
    silent = [n for n, p in tiny_net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == []


def test_bad_inputs_give_clear_errors(tiny_net):
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        tiny_net(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="multiples of 8"):
        tiny_net(torch.rand(1, 3, 17, 16))
    with pytest.raises(ValueError, match="degradation vector"):
        tiny_net(torch.rand(2, 3, 16, 16), torch.rand(1, 512))


def test_fast_execution_matches_the_authors_formulation(tiny_net, rng):
    """Channels-last layout and Gram-matrix attention change speed, not results."""
    from benchmarks.authors_style import authors_execution
    x = torch.rand(2, 3, 24, 40, generator=rng)
    d = torch.randn(2, 512, generator=rng)
    with torch.no_grad():
        fast = tiny_net(x, d)
        with authors_execution():
            plain = tiny_net(x, d)
        assert type(tiny_net).memory_format == torch.channels_last  # restored on exit
    assert (fast - plain).abs().max().item() < 1e-5
