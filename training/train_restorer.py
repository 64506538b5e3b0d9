"""Train a restoration network (VLU-Net, an ablation or a baseline) on degraded photo patches.

    python -m training.train_restorer --recipe training/configs/vlunet-tiny.yaml    # a shipped model, every phase
    python -m training.train_restorer --config training/configs/base/cpu.yaml name=mine steps=500 [key=value ...]
    torchrun --nproc_per_node 4 -m training.train_restorer --config training/configs/base/gpu.yaml name=mine steps=2000

Writes ``<out_dir>/<name>/``: ``checkpoints/step_N/`` (resumable, atomic), ``latest.json``,
``log.csv`` and ``curves.html``. Running the same command again continues from the latest
checkpoint (``resume=false`` starts over). ``python -m training.export_restorer`` turns the
latest checkpoint into a shipped weights file. A recipe (:mod:`training.trainer.recipe`) makes its
calls in one process, each resuming where a previous invocation stopped, and exports the weights
each next phase starts from; ``--phase NAME`` makes one phase's calls, ``--show`` prints them.

Faults: a bad command line or config file (unknown key, wrong type, missing file, YAML syntax
error) is one ``error:`` line naming the key or file, exit status 2. A corrupt latest checkpoint
stops the run with one line naming the unreadable file and the newest intact checkpoint;
``resume_from=<that folder>`` resumes from it (see :class:`training.trainer.TrainConfig`).
Train photos that do not decode are skipped with a warning; their number is ``skipped_images``
in the summary and the progress bar.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from training.trainer import TrainConfigError, parse_args, train
from training.trainer.recipe import Call, parse_recipe_args


def run_recipe(calls: list[Call], show: bool) -> None:
    """Make ``calls`` in order (each train() resumes a finished or stopped run), exporting where
    a call says so; with ``show``, print each call's config as a YAML document instead."""
    if show:
        print("\n---\n".join(yaml.safe_dump(json.loads(json.dumps(c.config.to_dict())), sort_keys=False).rstrip()
                            for c in calls))
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise TrainConfigError("a recipe runs in one process; under torchrun pass one call with --config "
                               "(--phase NAME --show prints it)")
    from training.export_restorer import export
    for call in calls:
        print(json.dumps(train(call.config), sort_keys=True))
        if call.export:
            Path(call.export).parent.mkdir(parents=True, exist_ok=True)
            export(call.config.run_dir, Path(call.export))
            print(f"exported {call.config.run_dir} to {call.export}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if any(arg == "--recipe" or arg.startswith("--recipe=") for arg in argv):
            run_recipe(*parse_recipe_args(argv))
            return 0
        cfg = parse_args(argv)
        summary = train(cfg)
    except (TrainConfigError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
