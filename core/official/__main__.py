"""``python -m core.official convert IN OUT.safetensors [--trust-pickle]``: the authors' checkpoint
as a safetensors file that loads without unpickling.

The network, the adapters and one copy of the frozen CLIP are kept under the checkpoint's own
keys (``net.*``, ``model_degradation.*``); optimizer states and everything else are dropped.
``--trust-pickle`` reads a file that ``weights_only=True`` refuses with full unpickling, which
can run code stored in the file: use it only on a file you trust, in an environment you trust.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def convert(source: Path, out: Path, trust_pickle: bool = False) -> Path:
    """Write the tensors of ``source`` that the studio reads to ``out`` (safetensors)."""
    from safetensors.torch import save_file

    from .errors import OfficialCheckpointError
    from .files import CLIP_PREFIXES, flat_state, load_tensors, split_parts

    try:
        raw = load_tensors(source)
    except OfficialCheckpointError:
        if not trust_pickle:
            raise
        raw = torch.load(source, map_location="cpu", weights_only=False)  # the user vouched for this file
    state = flat_state(raw)
    parts = split_parts(state)   # checks the file holds the authors' network
    keep = {f"net.{k}": v for k, v in parts.net.items()}
    keep.update({f"{CLIP_PREFIXES[0]}{k}": v for k, v in (parts.clip or {}).items()})
    keep.update({f"model_degradation.{k}": v for k, v in (parts.adapters or {}).items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in keep.items()}, str(out),
              metadata={"format": "vlunet-authors-release", "source": source.name})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.official", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="rewrite an authors' checkpoint as safetensors")
    conv.add_argument("source", type=Path)
    conv.add_argument("out", type=Path)
    conv.add_argument("--trust-pickle", action="store_true",
                      help="read a file weights_only=True refuses by unpickling it (only for a file you trust)")
    args = parser.parse_args(argv)
    try:
        out = convert(args.source, args.out, args.trust_pickle)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
