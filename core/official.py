"""Loading the authors' released VLU-Net weights into this project's network.

The authors' checkpoints are PyTorch Lightning ``.ckpt`` files whose ``state_dict`` holds the
network under ``net.`` (and CLIP + adapters under ``model_degradation.``); plain state dicts
(``.pth``, ``.safetensors``) are accepted too. :func:`map_official_keys` is the one place
where their names become ours.

Their y-stream quirk: from level 1 to level 2 their forward pass down-samples the observation
with the *estimate's* ``down1_2``; their ``down1_2_i`` is stored but never used. Our network
gives the observation stream its own down-sampler at every level, so the mapping loads their
``down1_2`` into both ``down_x.0`` and ``down_y.0`` and drops ``down1_2_i``: outputs are
identical; only further training can then let the two streams' down-samplers diverge.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import torch

from .network import VLUNet

_STAGES = {"encoder_level1": "encoders.0", "encoder_level2": "encoders.1", "encoder_level3": "encoders.2",
           "latent": "latent", "decoder_level3": "decoders.2", "decoder_level2": "decoders.1",
           "decoder_level1": "decoders.0", "refinement": "refinement"}
_RESAMPLE = re.compile(r"^(down|up)(\d)_(\d)(_i)?\.body\.0\.weight$")
_REDUCE = re.compile(r"^reduce_chan_level(\d)(_img)?\.weight$")


class OfficialCheckpointError(ValueError):
    """The authors' checkpoint cannot be read or does not fit the requested configuration."""


_STAGE_RENAMES = (("gradient_descent.", "gdm."), ("denoiser.blocks.", "prox."),
                  ("gdm.linear.", "gdm.keys.retrieval."), ("gdm.prompt_param", "gdm.keys.database"),
                  (".body.", "."))  # LayerNorm wrapper: norm1.body.weight -> norm1.weight


def _map_stage_key(rest: str) -> str:
    """Key inside one authors' ``DUN_BaseBlock`` -> key inside our ``UnfoldingStage``."""
    if rest == "gradient_descent.r":
        return "gdm.step"
    for old, new in _STAGE_RENAMES:
        rest = rest.replace(old, new)
    return rest


def map_official_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Authors' ``VLUNet`` state dict -> this project's ``VLUNet`` state dict.

    Unknown keys raise :class:`OfficialCheckpointError` naming them (no silent drops, except
    the unused ``down1_2_i``).
    """
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in _STAGES:
            new = f"{_STAGES[head]}.{_map_stage_key(rest)}"
            if new.endswith("gdm.keys.database"):
                value = value.squeeze(0)  # 1 x de_dim x C x S x S -> de_dim x C x S x S
            out[new] = value
        elif key in ("patch_embed.proj.weight", "patch_embed_i.proj.weight"):
            out["embed_y.weight" if "_i." in key else "embed_x.weight"] = value
        elif key == "output.weight":
            out[key] = value
        elif m := _RESAMPLE.match(key):
            kind, src, dst, img = m.groups()
            level = min(int(src), int(dst)) - 1
            if key == "down1_2_i.body.0.weight":
                continue  # stored, never used by their forward pass (see module docstring)
            out[f"{kind}_{'y' if img else 'x'}.{level}.conv.weight"] = value
            if key == "down1_2.body.0.weight":
                out["down_y.0.conv.weight"] = value
        elif m := _REDUCE.match(key):
            level, img = m.groups()
            out[f"reduce_{'y' if img else 'x'}.{int(level) - 1}.weight"] = value
        else:
            unknown.append(key)
    if unknown:
        raise OfficialCheckpointError(f"unrecognised keys in the authors' state dict: {unknown[:5]}"
                                      f"{' ...' if len(unknown) > 5 else ''}")
    return out


def read_state_dict(source) -> dict[str, torch.Tensor]:
    """Read the authors' weights from a path (.ckpt / .pth / .pt / .safetensors) or a dict.

    Lightning checkpoints keep the network under ``state_dict`` with prefix ``net.``; other
    prefixes (``model_degradation.`` for CLIP and adapters) are left out. ``torch.load`` is
    only ever called with ``weights_only=True``.
    """
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        path = Path(os.fspath(source))
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint file at {path}")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file
                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt, truncated or pickled objects refused by weights_only
            raise OfficialCheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: "
                                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = dict(state["state_dict"])
    if any(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    state = {k.removeprefix("module."): v for k, v in state.items()
             if not k.startswith("model_degradation.")}
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OfficialCheckpointError("the checkpoint's state dict holds values that are not tensors")
    return state


def load_official(source, de_dim: int = 7, dim: int = 48, num_blocks=(4, 6, 6, 8),
                  num_refinement_blocks: int = 4, heads=(1, 2, 4, 8),
                  ffn_expansion_factor: float = 2.66, bias: bool = False,
                  LayerNorm_type: str = "WithBias") -> VLUNet:  # noqa: N803 (the authors' name)
    """The authors' weights as our ``VLUNet`` in eval mode; arguments are the authors' names.

    ``model(x, d)`` then returns what their ``VLUNet(...)(x, d)`` returns. A shape or key
    mismatch raises :class:`OfficialCheckpointError` naming the first offending keys.
    """
    model = VLUNet(de_dim=de_dim, dim=dim, num_blocks=tuple(num_blocks),
                   num_refinement_blocks=num_refinement_blocks, heads=tuple(heads),
                   ffn_expansion_factor=ffn_expansion_factor, bias=bias, layernorm_type=LayerNorm_type)
    mapped = map_official_keys(read_state_dict(source))
    from .checkpoint import load_state_strict
    load_state_strict(model, mapped, what="the authors' checkpoint")
    return model.eval()
