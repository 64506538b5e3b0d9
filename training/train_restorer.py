"""Train a restoration network (VLU-Net, an ablation or a baseline) on degraded photo patches.

    python -m training.train_restorer --config training/configs/vlunet-tiny.yaml [key=value ...]
    torchrun --nproc_per_node 4 -m training.train_restorer --config training/configs/vlunet-small.yaml

Writes ``<out_dir>/<name>/``: ``checkpoints/step_N/`` (resumable, atomic), ``latest.json``,
``log.csv`` and ``curves.html``. Running the same command again continues from the latest
checkpoint (``resume=false`` starts over). ``python -m training.export_restorer`` turns the
latest checkpoint into a shipped weights file.

Faults: a bad command line or config file (unknown key, wrong type, missing file, YAML syntax
error) is one ``error:`` line naming the key or file, exit status 2. A corrupt latest checkpoint
stops the run with one line naming the unreadable file and the newest intact checkpoint;
``resume_from=<that folder>`` resumes from it (see :class:`training.trainer.TrainConfig`).
Train photos that do not decode are skipped with a warning; their number is ``skipped_images``
in the summary and the progress bar.
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
