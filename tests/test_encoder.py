"""DegradationEncoder API, adapter files and the CLIP path (tiny random open_clip model, offline)."""
from __future__ import annotations

import pytest
import torch

from core.encoder import (Adapter, BackboneUnavailableError, DegradationEncoder, EncoderAssetMissingError,
                          EncoderConfig, EncoderWeightsError, LABELS)
from core.encoder.io import convert_authors_adapters, read_metadata

TINY_CLIP = dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=16),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))


@pytest.fixture(scope="module")
def encoder() -> DegradationEncoder:
    torch.manual_seed(0)
    cfg = EncoderConfig(backbone="clip", clip_pretrained=None, clip_overrides=TINY_CLIP)
    return DegradationEncoder(cfg).eval()


def test_shapes_any_size(encoder):
    images = torch.rand(2, 3, 37, 31)
    assert encoder.encode_image(images).shape == (2, 512)
    assert encoder.encode_image_raw(images).shape == (2, 32)
    assert encoder.encode_text(["a foggy photo", "rain", "x"]).shape == (3, 512)
    assert torch.isfinite(encoder.encode_image(torch.rand(1, 3, 300, 90))).all()


def test_probabilities_sum_to_one_in_label_order(encoder):
    d = encoder.encode_image(torch.rand(3, 3, 40, 56))
    p = encoder.probabilities(d)
    assert p.shape == (3, len(LABELS)) and encoder.labels == LABELS
    assert torch.allclose(p.sum(-1), torch.ones(3), atol=1e-5) and (p >= 0).all()
    assert torch.allclose(encoder.classify(torch.rand(1, 3, 33, 33)).sum(), torch.tensor(1.0), atol=1e-5)


def test_probabilities_follow_cosine_similarity(encoder):
    encoder.refresh_class_embeddings()
    d = encoder.class_embeddings[[4, 1]] * 3.0  # exactly the class embeddings of labels 4 and 1
    assert encoder.probabilities(d).argmax(-1).tolist() == [4, 1]


@pytest.mark.parametrize("bad", [torch.rand(3, 32, 32), torch.rand(1, 1, 32, 32), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)])
def test_bad_images_raise_one_line(encoder, bad):
    with pytest.raises(ValueError, match="B x 3 x H x W|floating point"):
        encoder.encode_image(bad)


def test_authors_adapter_layout_loads():
    """The authors' keys (ad_imageEncoder.adapter.N / ad_textEncoder) map one to one onto ours."""
    ours = Adapter(512, 512, "leaky_relu").state_dict()
    assert sorted(ours) == sorted(f"adapter.{i}.{p}" for i in (0, 1, 3, 4, 6, 7) for p in ("weight", "bias"))
    torch.manual_seed(1)
    authors = {f"model_degradation.ad_{tower}Encoder.{k}": torch.randn_like(v)
               for tower in ("image", "text") for k, v in Adapter(512).state_dict().items()}
    authors["net.patch_embed.proj.weight"] = torch.zeros(48, 3, 3, 3)  # ignored
    cfg = EncoderConfig(backbone="clip", clip_pretrained=None, activation="leaky_relu",
                        clip_overrides={**TINY_CLIP, "embed_dim": 512})
    enc = DegradationEncoder(cfg).load_authors_adapters(authors)
    assert torch.equal(enc.image_adapter.adapter[6].weight, authors["model_degradation.ad_imageEncoder.adapter.6.weight"])
    assert torch.equal(enc.text_adapter.adapter[0].bias, authors["model_degradation.ad_textEncoder.adapter.0.bias"])
    with pytest.raises(EncoderWeightsError, match="no authors' adapter keys"):
        convert_authors_adapters({"net.output.weight": torch.zeros(1)})


def test_save_load_round_trip(encoder, tmp_path):
    path = encoder.save(tmp_path / "enc.safetensors", training={"note": "round trip"})
    meta = read_metadata(path)
    assert EncoderConfig.from_json(meta["config"]) == encoder.config and "round trip" in meta["training"]
    loaded = DegradationEncoder.from_pretrained(path)
    images = torch.rand(2, 3, 45, 39)
    torch.manual_seed(0)  # tiny random CLIP backbones are rebuilt: share the loaded one's backbone
    loaded = DegradationEncoder.from_pretrained(path, backbone=encoder.backbone)
    assert torch.allclose(loaded.encode_image(images), encoder.encode_image(images), atol=1e-6)
    assert torch.allclose(loaded.class_embeddings, encoder.class_embeddings)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_corrupt_and_missing_files_raise_clear_errors(encoder, tmp_path):
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(EncoderWeightsError, match="not a readable safetensors"):
        DegradationEncoder.from_pretrained(bad)
    with pytest.raises(EncoderAssetMissingError, match="neither a registered encoder"):
        DegradationEncoder.from_pretrained(tmp_path / "absent.safetensors")
    good = encoder.save(tmp_path / "enc.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(EncoderWeightsError):
        DegradationEncoder.from_pretrained(truncated, backbone=encoder.backbone)


def test_flipped_bit_in_an_adapter_file_is_one_line_naming_it(encoder, tmp_path, flip_bit, without_digest):
    path = encoder.save(tmp_path / "enc.safetensors")
    assert "sha256" in read_metadata(path)
    flip_bit(path)
    with pytest.raises(EncoderWeightsError) as err:
        DegradationEncoder.from_pretrained(path, backbone=encoder.backbone)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "checksum" in message
    old = encoder.save(tmp_path / "old.safetensors")
    without_digest(old)                                   # files written before checksums load as before
    loaded = DegradationEncoder.from_pretrained(old, backbone=encoder.backbone)
    assert torch.equal(loaded.class_embeddings, encoder.class_embeddings)


def test_wrong_shapes_raise(encoder):
    state = encoder.adapter_state()
    state["image_adapter.adapter.0.weight"] = torch.zeros(512, 7)
    with pytest.raises(EncoderWeightsError, match="wrong shape"):
        encoder.load_adapter_state(state)


def test_clip_offline_fails_fast_naming_offline_backbone(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    with pytest.raises(BackboneUnavailableError, match="offline backbone"):
        DegradationEncoder(EncoderConfig(backbone="clip"))
    with pytest.raises(ValueError, match="unknown pretrained tag"):
        DegradationEncoder(EncoderConfig(backbone="clip", clip_pretrained="no-such-tag"))


def test_config_rejects_unknown_values():
    with pytest.raises(ValueError, match="unknown encoder backbone"):
        EncoderConfig(backbone="resnet")
    with pytest.raises(ValueError, match="unknown encoder config keys"):
        EncoderConfig.from_dict({"backbone": "offline", "colour": 1})
