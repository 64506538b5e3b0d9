"""Command line: ``python -m core restore IN... -o OUT_DIR [--tile N] [--device D] [--degradation D] [--mode M] [--ensemble E]``.

Each input is restored to ``OUT_DIR/<stem>_restored.png``. An unreadable input gets a one-line
error and the others are still restored; the exit code is 1 if any input failed. This module
is the command line only: the library itself (``import core``) never imports argparse.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from .ensemble import ENSEMBLES
from .one_by_one import MODES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    restore = sub.add_parser("restore", help="restore images with the shipped (or given) weights")
    restore.add_argument("inputs", nargs="+", type=Path, help="image files")
    restore.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    restore.add_argument("--weights", default=None, help="registered name or checkpoint path (default: shipped)")
    restore.add_argument("--tile", type=int, default=None, help="tile size (0: never tile; default: automatic)")
    restore.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ...")
    restore.add_argument("--degradation", default=None,
                         help="auto (default), uniform, a canonical name such as rain, or free text")
    restore.add_argument("--mode", default=None, choices=MODES,
                         help="one-by-one (a specialist per detected degradation type; the default for weights "
                              "shipped with specialists) or all-in-one")
    restore.add_argument("--ensemble", default=None, choices=tuple(ENSEMBLES),
                         help="self-ensemble: none (one pass), mirror (2 passes: the default of vlunet-tiny), "
                              "flips (4) or dihedral (8); default: the model's")
    restore.add_argument("--no-encoder", action="store_true", help="restore without the degradation encoder")
    sub.add_parser("models", help="list registered configurations and shipped weights")
    return parser


def _restore(args) -> int:
    from . import ImageReadError, Restorer, keep_freed_memory

    keep_freed_memory()   # image after image: reuse the feature maps' memory
    try:
        restorer = Restorer.from_pretrained(args.weights, device=args.device,
                                            encoder=None if args.no_encoder else "default")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    bar = tqdm(args.inputs, unit="image", disable=None)
    for path in bar:
        bar.set_postfix_str(path.name)
        try:
            result = restorer.restore(path, degradation=args.degradation, tile=args.tile, mode=args.mode,
                                      ensemble=args.ensemble)
        except (ImageReadError, FileNotFoundError, ValueError) as exc:
            failed += 1
            tqdm.write(f"error: {path}: {exc}", file=sys.stderr)
            continue
        target = args.out / f"{path.stem}_restored.png"
        result.image.save(target)
        top = max(result.degradation, key=result.degradation.get) if result.degradation else "-"
        tqdm.write(f"{path} -> {target} ({result.timings['total']:.2f} s, detected {top}, {result.network})")
    if failed:
        print(f"{failed} of {len(args.inputs)} images failed", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "models":
        from . import list_models, list_pretrained
        print("configurations:", ", ".join(list_models()))
        print("shipped weights:", ", ".join(list_pretrained()))
        return 0
    return _restore(args)


if __name__ == "__main__":
    sys.exit(main())
