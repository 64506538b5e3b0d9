"""The authors' network weights as this project's :class:`~core.network.VLUNet`."""
from __future__ import annotations

from typing import Mapping

from ..network import VLUNet
from .files import read_state_dict, resolve_release
from .keys import infer_net_config, map_official_keys


def load_official(source, de_dim: int | None = None, dim: int | None = None, num_blocks=None,
                  num_refinement_blocks: int | None = None, heads=None, ffn_expansion_factor: float | None = None,
                  bias: bool | None = None, LayerNorm_type: str | None = None) -> VLUNet:  # noqa: N803 (their name)
    """The authors' weights (a checkpoint path, a folder's checkpoint or a state dict) as our
    ``VLUNet`` in eval mode. Arguments are the authors' names; those left None are read from the
    tensors (:func:`~core.official.keys.infer_net_config`).

    ``model(x, d)`` then returns what their ``VLUNet(...)(x, d)`` returns for the same raw d_I
    (the config records ``degradation_vector="raw"``). A shape or key mismatch raises one error
    naming the first offending keys.
    """
    from ..checkpoint import load_state_strict

    state = read_state_dict(source if isinstance(source, Mapping) else resolve_release(source))
    given = dict(de_dim=de_dim, dim=dim, num_blocks=num_blocks, num_refinement_blocks=num_refinement_blocks,
                 heads=heads, ffn_expansion_factor=ffn_expansion_factor, bias=bias, LayerNorm_type=LayerNorm_type)
    args = {**infer_net_config(state), **{k: v for k, v in given.items() if v is not None}}
    model = VLUNet(de_dim=args["de_dim"], dim=args["dim"], num_blocks=tuple(args["num_blocks"]),
                   num_refinement_blocks=args["num_refinement_blocks"], heads=tuple(args["heads"]),
                   ffn_expansion_factor=args["ffn_expansion_factor"], bias=args["bias"],
                   layernorm_type=args["LayerNorm_type"], degradation_vector="raw")
    load_state_strict(model, map_official_keys(state), what="the authors' checkpoint")
    return model.eval()
