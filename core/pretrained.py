"""Shipped restoration weights, found by name.

Each entry names a safetensors file under ``assets/models/`` (beside the package) and the
command that reproduces it: ``vlunet-tiny`` (the default, trained on a 2-core CPU) and
``vlunet-tiny-gpu`` (the same network continued on one GPU, on the CPU, then on the GPU again).
``resolve_weights`` turns a name or a path into a file, with a clear message when the weights are
not there.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class PretrainedEntry:
    name: str
    file: str      # relative to assets/
    recipe: str    # the command that produces it


def _train(config: str) -> str:
    """The training command of one phase: a file in training/configs/ and its overrides."""
    return f"python -m training.train_restorer --config training/configs/{config}"


def _export(run: str, out: str) -> str:
    """The command that exports run ``runs/<run>`` as ``runs/<out>.safetensors`` for the next phase."""
    return f"python -m training.export_restorer --run runs/{run} --out runs/{out}.safetensors"


PRETRAINED: dict[str, PretrainedEntry] = {
    # Twelve CPU phases, each from the previous one's EMA; the sixth stopped at step 939 of its 2500,
    # the last six at the suite's scale in bfloat16 (card: assets/models/README.md).
    "vlunet-tiny": PretrainedEntry(
        "vlunet-tiny", "models/vlunet-tiny.safetensors",
        " && ".join([
            *(_train(phase) for phase in
              ("vlunet-tiny.yaml", "vlunet-tiny-finetune.yaml", "vlunet-tiny-p128.yaml",
               "vlunet-tiny-retrieval.yaml", "vlunet-tiny-p5.yaml", "vlunet-tiny-p6.yaml stop_after=939")),
            _export("vlunet-tiny-p6", "vlunet-tiny-p6-939"),
            _train("vlunet-tiny-p8-scale.yaml steps=1161 time_budget_minutes=0"),
            _export("vlunet-tiny-p8-scale", "vlunet-tiny-p8-1161"),
            _train("vlunet-tiny-p9-rain.yaml steps=3228 time_budget_minutes=0"),
            _export("vlunet-tiny-p9-rain", "vlunet-tiny-p9-3228"),
            _train("vlunet-tiny-p10-rain.yaml steps=2787 time_budget_minutes=0"),
            _export("vlunet-tiny-p10-rain", "vlunet-tiny-p10-2787"),
            _train("vlunet-tiny-p11-rain.yaml steps=3265 time_budget_minutes=0"),
            _export("vlunet-tiny-p11-rain", "vlunet-tiny-p11-3265"),
            _train("vlunet-tiny-p12-rain.yaml steps=2401 time_budget_minutes=0"),
            _export("vlunet-tiny-p12-rain", "vlunet-tiny-p12-2401"),
            _train("vlunet-tiny-p13-blur.yaml steps=2656 time_budget_minutes=0"),
        ])),
    # The same network continued on one GPU in three phases, 2000 + 2883 + 1941 steps, then on
    # this CPU for 2818 + 3217 + 994 + 3397 steps at the suite's scale, then on one GPU again for
    # 1421 + 226 steps with blur the largest share (card: assets/models/vlunet-tiny-gpu.md).
    "vlunet-tiny-gpu": PretrainedEntry(
        "vlunet-tiny-gpu", "models/vlunet-tiny-gpu.safetensors",
        " && ".join([
            _train("vlunet-tiny-gpu.yaml steps=1346"),
            _train("vlunet-tiny-gpu.yaml steps=2000"),
            _train("vlunet-tiny-gpu2.yaml steps=1383"),
            _train("vlunet-tiny-gpu2.yaml steps=2883 val_every=1000"),
            _export("vlunet-tiny-gpu2", "vlunet-tiny-gpu2-2883"),
            _train("vlunet-tiny-gpu3.yaml steps=1941"),
            _export("vlunet-tiny-gpu3", "vlunet-tiny-gpu3-1941"),
            _train("vlunet-tiny-gpu-cpu-scale.yaml steps=2818 time_budget_minutes=0"),
            _export("vlunet-tiny-gpu-cpu-scale", "vlunet-tiny-gpu4-2818"),
            _train("vlunet-tiny-gpu-cpu-rain.yaml steps=3217 time_budget_minutes=0"),
            _export("vlunet-tiny-gpu-cpu-rain", "vlunet-tiny-gpu5-3217"),
            _train("vlunet-tiny-gpu-cpu-rain2.yaml steps=994 time_budget_minutes=0"),
            _export("vlunet-tiny-gpu-cpu-rain2", "rain2-00000994"),
            _train("vlunet-tiny-gpu-cpu-rain3.yaml steps=3397 time_budget_minutes=0"),
            _export("vlunet-tiny-gpu-cpu-rain3", "vlunet-tiny-gpu6-3397"),
            _train("vlunet-tiny-gpu7.yaml steps=1421"),
            _export("vlunet-tiny-gpu7", "vlunet-tiny-gpu7-1421"),
            _train("vlunet-tiny-gpu8.yaml steps=226"),
        ])),
}
DEFAULT = "vlunet-tiny"


class WeightsNotFoundError(FileNotFoundError):
    """Named weights that are not on disk."""


def list_pretrained() -> list[str]:
    return sorted(PRETRAINED)


def resolve_weights(name_or_path: str | os.PathLike | None = None) -> Path:
    """A registered name (None: the default) or a path -> an existing weights file."""
    key = DEFAULT if name_or_path is None else name_or_path
    if isinstance(key, str) and key in PRETRAINED:
        entry = PRETRAINED[key]
        path = ASSETS / entry.file
        if not path.is_file():
            raise WeightsNotFoundError(
                f"the shipped weights {entry.name!r} are missing ({path}); create them with "
                f"`{entry.recipe}` or pass the path of a checkpoint")
        return path
    path = Path(os.fspath(key))
    if not path.is_file():
        raise WeightsNotFoundError(f"no weights named {str(key)!r} and no file at {path}; "
                                   f"registered names: {', '.join(list_pretrained())}")
    return path
