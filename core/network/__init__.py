"""The VLU-Net network: building blocks, the D-GDM, the unfolding stage and the full model."""
from .config import ConfigError, VLUNetConfig
from .precision import bfloat16_inference
from .stage import StageTrace, UnfoldingStage
from .vlunet import VLUNet, stage_specs

__all__ = ["ConfigError", "VLUNetConfig", "bfloat16_inference", "StageTrace", "UnfoldingStage", "VLUNet", "stage_specs"]
