"""The offline backbone (EfficientNet-Lite0 + MiniLM from PyPI packages) and the shipped adapters."""
from __future__ import annotations

import pytest
import torch
from skimage import data as skdata

from core.degradations import degrade
from core.encoder import DegradationEncoder, EncoderAssetMissingError, HELDOUT_PARAPHRASES, LABELS, coarse_of
from core.encoder import registry
from core.encoder.config import EncoderConfig
from core.encoder.backbones.offline import OfflineBackbone, map_efficientnet_lite0_state_dict


def _photo(name: str) -> torch.Tensor:
    return torch.from_numpy(getattr(skdata, name)()).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def shipped() -> DegradationEncoder:
    try:
        return DegradationEncoder.from_pretrained()
    except EncoderAssetMissingError as exc:
        pytest.skip(f"shipped offline adapters absent ({exc})")


def test_weight_mapping_classifies_a_cat():
    """The mapped ImageNet weights call skimage's chelsea a cat (ImageNet classes 281-285)."""
    backbone = OfflineBackbone(image_views=("global",))
    top = backbone.imagenet_logits(_photo("chelsea")).softmax(-1)[0].topk(3)
    assert 281 <= int(top.indices[0]) <= 285 and float(top.values.sum()) > 0.5
    assert backbone.encode_image(torch.rand(2, 3, 37, 31)).shape == (2, backbone.image_dim)


def test_a_large_photo_is_read_at_its_own_pixel_scale_and_a_small_one_as_before():
    """Views come from a centre crop of at most `native_crop` px: inputs within it are read exactly
    as with no crop (what the adapters were fine-tuned on), a larger photo as its centre crop,
    not shrunk whole (its noise would shrink with it)."""
    backbone = OfflineBackbone(native_crop=64)
    whole = OfflineBackbone(native_crop=0)
    whole.net = backbone.net
    small, large = torch.rand(1, 3, 64, 48), torch.rand(1, 3, 150, 97)
    assert torch.equal(backbone.encode_image(small), whole.encode_image(small))
    centre = large[..., 43:107, 16:80]
    assert torch.equal(backbone.encode_image(large), whole.encode_image(centre))
    assert not torch.allclose(backbone.encode_image(large), whole.encode_image(large))
    with pytest.raises(ValueError, match="native_crop must be 0 or >= input_size"):
        EncoderConfig(native_crop=100)
    assert EncoderConfig.from_dict({"backbone": "offline"}).native_crop == 512   # configs saved before it


def test_mapping_rejects_foreign_keys():
    backbone = OfflineBackbone(image_views=("native",))
    with pytest.raises(ValueError, match="no counterpart"):
        map_efficientnet_lite0_state_dict({"_mystery.weight": torch.zeros(1)}, backbone.net)
    with pytest.raises(ValueError, match="does not match"):
        map_efficientnet_lite0_state_dict({"_fc.weight": torch.zeros(10, 1280)}, backbone.net)


def test_missing_shipped_asset_names_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "ASSETS", tmp_path)
    with pytest.raises(EncoderAssetMissingError, match="python -m training.train_encoder --config"):
        DegradationEncoder.from_pretrained()


def test_language_heldout_paraphrases_land_on_their_class(shipped):
    """Free-text queries never seen in training are nearest to their own degradation type."""
    rows = [(text, label) for label, texts in HELDOUT_PARAPHRASES.items() for text in texts]
    pred = shipped.logits(shipped.encode_text([t for t, _ in rows])).argmax(-1).tolist()
    got = {text: LABELS[p] for p, (text, _) in zip(pred, rows)}
    for text in ("a foggy photo", "taken at night", "streaks of rain", "grainy picture"):
        label = next(l for t, l in rows if t == text)
        assert coarse_of(got[text]) == coarse_of(label), got
    assert sum(coarse_of(got[t]) == coarse_of(l) for t, l in rows) >= len(rows) - 1, got


def test_shipped_encoder_detects_degradations_of_an_unseen_photo(shipped):
    """A photo never used in training, degraded five ways, is classified to the right type."""
    clean = _photo("astronaut")[..., 100:356, 150:406]
    names = ["noise_50", "haze", "rain", "low_light", "blur"]
    degraded = torch.cat([degrade(clean, n, torch.Generator().manual_seed(3))[0] for n in names])
    p = shipped.classify(degraded)
    assert torch.allclose(p.sum(-1), torch.ones(len(names)), atol=1e-5)
    assert [coarse_of(LABELS[i]) for i in p.argmax(-1).tolist()] == [coarse_of(n) for n in names]
