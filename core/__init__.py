"""VLU-Net: vision-language gradient-descent-driven all-in-one deep unfolding network.

Public API:

    import core
    core.list_models()                       # registered configurations
    net = core.create_model("vlunet-tiny")   # a fresh network
    net = core.load_official("authors.ckpt") # the authors' released network weights
    restorer = core.Restorer.from_official("pretrained_ckpt/3task_vlunet.ckpt")  # their whole pipeline
    core.save_model(net, "w.safetensors"); core.load_model("w.safetensors")
    restorer = core.Restorer.from_pretrained()      # shipped weights, offline
    result = restorer.restore("photo.jpg")          # .image, .degradation, .stages, .timings (2 passes: mirror)
    result = restorer.restore("photo.jpg", ensemble="flips")   # self-ensemble of 4 passes ("none": 1)
    core.keep_freed_memory()                 # servers: reuse freed feature maps (glibc; see core/allocator.py)

``core`` never imports the training code, the app, argparse or gradio.
"""
import os

# Back large CPU tensors with transparent huge pages: full-resolution feature maps are 100+ MB
# and page faults on fresh memory otherwise cost as much as the convolutions. PyTorch reads the
# flag at its first CPU allocation, hence here; THP_MEM_ALLOC_ENABLE=0 opts out. Measurements:
# docs/benchmarks.md.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from .allocator import keep_freed_memory
from .checkpoint import CheckpointError, load_model, save_model
from .imageio import ImageReadError, read_image, to_pil
from .network import ConfigError, StageTrace, VLUNet, VLUNetConfig
from . import official
from .official import OfficialCheckpointError, load_official, map_official_keys
from .pretrained import WeightsNotFoundError, list_pretrained
from .registry import create_model, list_models, model_config
from .restorer import Restorer, RestoreResult, load_specialists

__all__ = [
    "CheckpointError", "ConfigError", "ImageReadError", "OfficialCheckpointError", "RestoreResult",
    "official",
    "Restorer", "StageTrace", "VLUNet", "VLUNetConfig", "WeightsNotFoundError", "create_model",
    "keep_freed_memory", "list_models", "list_pretrained", "load_model", "load_official", "load_specialists",
    "map_official_keys", "model_config", "read_image", "save_model", "to_pil",
]
