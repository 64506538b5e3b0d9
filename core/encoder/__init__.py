"""The vision-language degradation encoder of VLU-Net (paper Sec. 3.3).

    from core.encoder import DegradationEncoder
    enc = DegradationEncoder.from_pretrained()      # shipped offline default
    d = enc.encode_image(images)                    # B x 512 d_I, images B x 3 x H x W in [0, 1]
    p = enc.probabilities(d)                        # B x 7, order enc.labels
"""
from .adapters import Adapter
from .config import EncoderConfig
from .encoder import DegradationEncoder
from .errors import BackboneUnavailableError, EncoderAssetMissingError, EncoderWeightsError
from ..degradations import COARSE as COARSE_LABELS
from .prompts import AUTHORS_PROMPTS, HELDOUT_PARAPHRASES, LABELS, TRAIN_PARAPHRASES, coarse_of
from .registry import list_encoders, resolve_encoder

__all__ = [
    "AUTHORS_PROMPTS", "Adapter", "BackboneUnavailableError", "COARSE_LABELS", "DegradationEncoder",
    "EncoderAssetMissingError", "EncoderConfig", "EncoderWeightsError", "HELDOUT_PARAPHRASES", "LABELS",
    "TRAIN_PARAPHRASES", "coarse_of", "list_encoders", "resolve_encoder",
]
