"""core.guidance: each network gets d_I in the form it was trained with, for auto, class and text."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import core
from core.guidance import degradation_vector, network_convention, resolve_guidance
from core.network import ConfigError

from test_encoder import TINY_CLIP


@pytest.fixture(scope="module")
def encoder():
    from core.encoder import DegradationEncoder, EncoderConfig
    torch.manual_seed(0)
    return DegradationEncoder(EncoderConfig(backbone="clip", clip_pretrained=None, clip_overrides=TINY_CLIP)).freeze()


def test_unit_convention_is_the_normalised_embedding_for_every_kind_of_steering(encoder, rng):
    """Our models (unit) get exactly what they were trained with before conventions existed."""
    image = torch.rand(1, 3, 40, 52, generator=rng)
    with torch.no_grad():
        auto = resolve_guidance(encoder, image, "auto", "unit").d
        named = resolve_guidance(encoder, image, "haze", "unit").d
        worded = resolve_guidance(encoder, image, "remove the fog", "unit").d
        assert torch.equal(auto, F.normalize(encoder.encode_image(image).float(), dim=-1))
        assert torch.equal(named, F.normalize(encoder.class_embeddings[core.encoder.LABELS.index("haze")][None], dim=-1))
        assert torch.equal(worded, F.normalize(encoder.encode_text(["remove the fog"]).float(), dim=-1))
        raw = resolve_guidance(encoder, image, "auto", "raw").d
    assert torch.equal(raw, encoder.encode_image(image))
    assert resolve_guidance(encoder, image, "uniform", "raw").d is None


def test_conventions_are_recorded_with_the_network(tmp_path):
    net = core.create_model("vlunet-tiny", dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1)
    assert network_convention(net) == "unit"                            # our models
    raw = core.create_model("vlunet-tiny", dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1,
                            degradation_vector="raw")
    assert network_convention(core.load_model(core.save_model(raw, tmp_path / "raw.safetensors"))) == "raw"
    assert network_convention(core.load_model(core.pretrained.resolve_weights())) == "unit"   # shipped: none recorded
    with pytest.raises(ConfigError, match="degradation_vector must be one of"):
        core.create_model("vlunet-tiny", degradation_vector="cosine")
    with pytest.raises(ValueError, match="convention must be one of"):
        degradation_vector(torch.ones(1, 4), "normalised")


def test_training_feeds_each_network_its_own_convention(encoder, rng):
    from training.trainer.loop import guidance_vectors
    batch = torch.rand(2, 3, 32, 32, generator=rng)
    small = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1)
    ours, theirs = core.create_model("vlunet-tiny", **small), core.create_model("vlunet-tiny", degradation_vector="raw", **small)
    with torch.no_grad():
        embedding = encoder.encode_image(batch)
    assert torch.equal(guidance_vectors(encoder, batch, ours), F.normalize(embedding, dim=-1))
    assert torch.equal(guidance_vectors(encoder, batch, theirs), embedding)
    assert guidance_vectors(None, batch, ours) is None

