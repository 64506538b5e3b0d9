"""The authors' network keys: renamed to ours, and their configuration read from the shapes.

:func:`map_official_keys` is the one place where their names become ours;
:func:`infer_net_config` reads the constructor arguments of their ``VLUNet`` from the tensors,
so a checkpoint of any size loads without being told its configuration.

Their y-stream quirk: from level 1 to level 2 their forward pass down-samples the observation
with the *estimate's* ``down1_2``; their ``down1_2_i`` is stored but never used. Our network
gives the observation stream its own down-sampler at every level, so the mapping loads their
``down1_2`` into both ``down_x.0`` and ``down_y.0`` and drops ``down1_2_i``: outputs are
identical; only further training can then let the two streams' down-samplers diverge.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from .errors import OfficialCheckpointError

_STAGES = {"encoder_level1": "encoders.0", "encoder_level2": "encoders.1", "encoder_level3": "encoders.2",
           "latent": "latent", "decoder_level3": "decoders.2", "decoder_level2": "decoders.1",
           "decoder_level1": "decoders.0", "refinement": "refinement"}
_RESAMPLE = re.compile(r"^(down|up)(\d)_(\d)(_i)?\.body\.0\.weight$")
_REDUCE = re.compile(r"^reduce_chan_level(\d)(_img)?\.weight$")


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


_LEVELS = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
AUTHORS_DEFAULTS = dict(de_dim=7, dim=48, num_blocks=(4, 6, 6, 8), num_refinement_blocks=4, heads=(1, 2, 4, 8),
                        ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias")


def _blocks(state: Mapping[str, torch.Tensor], stage: str) -> int:
    pattern = re.compile(rf"^{stage}\.denoiser\.blocks\.(\d+)\.")
    return len({m.group(1) for k in state if (m := pattern.match(k))})


def _ffn_factor(state: Mapping[str, torch.Tensor], widths: list[tuple[str, int]]) -> float:
    """The expansion factor f with int(C * f) == the GDFN hidden width at every level (C its width)."""
    hidden = {stage: state[f"{stage}.denoiser.blocks.0.ffn.project_out.weight"].shape[1]
              for stage, _ in widths if f"{stage}.denoiser.blocks.0.ffn.project_out.weight" in state}
    if not hidden:
        return AUTHORS_DEFAULTS["ffn_expansion_factor"]
    stage, width = next((s, c) for s, c in widths if s in hidden)
    for factor in (AUTHORS_DEFAULTS["ffn_expansion_factor"], hidden[stage] / width, (hidden[stage] + 0.5) / width):
        if all(int(c * factor) == hidden[s] for s, c in widths if s in hidden):
            return factor
    raise OfficialCheckpointError(f"the checkpoint's feed-forward widths {hidden} fit no single expansion factor")


def infer_net_config(state: Mapping[str, torch.Tensor]) -> dict:
    """The authors' ``VLUNet`` arguments (their names) that built ``state`` (their keys).

    Widths, block counts, heads (from the attention temperatures), de_dim, bias and LayerNorm
    type are read from the tensors; a level without blocks keeps the authors' default heads.
    """
    try:
        dim = state["patch_embed.proj.weight"].shape[0]
        de_dim = state["encoder_level1.gradient_descent.linear.weight"].shape[0]
    except KeyError as exc:
        raise OfficialCheckpointError(f"not an authors' VLU-Net state dict: no {exc.args[0]}") from None
    heads = []
    for level, stage in enumerate(_LEVELS):
        key = f"{stage}.denoiser.blocks.0.attn.temperature"
        heads.append(state[key].shape[0] if key in state else AUTHORS_DEFAULTS["heads"][level])
    widths = [(stage, dim * 2 ** level) for level, stage in enumerate(_LEVELS)]
    return dict(de_dim=de_dim, dim=dim, num_blocks=tuple(_blocks(state, s) for s in _LEVELS),
                num_refinement_blocks=_blocks(state, "refinement"), heads=tuple(heads),
                ffn_expansion_factor=_ffn_factor(state, widths), bias="patch_embed.proj.bias" in state,
                LayerNorm_type="WithBias" if "encoder_level1.denoiser.blocks.0.norm1.body.bias" in state
                or not any(k.endswith("norm1.body.weight") for k in state) else "BiasFree")
