"""Train a restoration network (VLU-Net, an ablation or a baseline) on degraded photo patches.

    python -m training.train_restorer --config training/configs/vlunet-tiny.yaml [key=value ...]
    torchrun --nproc_per_node 4 -m training.train_restorer --config training/configs/vlunet-small.yaml

Writes ``<out_dir>/<name>/``: ``checkpoints/step_N/`` (resumable, atomic), ``latest.json``,
``log.csv`` and ``curves.html``. Running the same command again continues from the latest
checkpoint (``resume=false`` starts over). ``python -m training.export_restorer`` turns the
latest checkpoint into a shipped weights file.
"""
from __future__ import annotations

import json
import sys

from training.trainer import TrainConfigError, parse_args, train


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
        summary = train(cfg)
    except (TrainConfigError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
