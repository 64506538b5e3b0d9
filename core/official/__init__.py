"""The authors' released VLU-Net: their checkpoints, their CLIP and adapters, their pipeline.

    net = core.load_official("pretrained_ckpt/3task_vlunet.ckpt")        # the network alone
    release = core.official.load_release("pretrained_ckpt")               # network + encoder
    restorer = core.Restorer.from_official("pretrained_ckpt/3task_vlunet.ckpt")

Files are read without unpickling (``weights_only=True``); a file that cannot be read that way
is converted once with ``python -m core.official convert IN OUT.safetensors --trust-pickle``.

Their y-stream quirk: from level 1 to level 2 their forward pass down-samples the observation
with the *estimate's* ``down1_2``; their ``down1_2_i`` is stored but never used. Our network
gives the observation stream its own down-sampler at every level, so the key mapping loads their
``down1_2`` into both ``down_x.0`` and ``down_y.0`` and drops ``down1_2_i``: outputs are
identical; only further training can then let the two streams' down-samplers diverge.
"""
from .errors import OfficialCheckpointError
from .files import OfficialParts, is_release, read_parts, read_state_dict, resolve_release
from .keys import infer_net_config, map_official_keys
from .network import load_official
from .protocol import crop_to_multiple
from .release import OfficialRelease, load_release

__all__ = ["OfficialCheckpointError", "OfficialParts", "OfficialRelease", "crop_to_multiple", "infer_net_config", "is_release",
           "load_official", "load_release", "map_official_keys", "read_parts", "read_state_dict", "resolve_release"]
