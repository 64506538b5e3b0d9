"""The schedule of a run: learning rate per step and parameter group, and the step count a time
budget fixes (see :class:`training.trainer.TrainConfig`)."""
from __future__ import annotations

import math
import statistics

import torch

from .config import TrainConfig, TrainConfigError


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from ``lr`` to ``min_lr`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


RETRIEVAL_PARAMETERS = ".keys.retrieval."   # the Linear(d_I -> de_dim) of every D-GDM's key database


def parameter_groups(network: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW parameter groups: everything at ``lr``, the retrieval layers at ``lr * retrieval_lr_scale``.

    Each group carries ``lr_scale``, which the schedule multiplies in. With the default scale 1
    there is one group, as in runs made before the option existed.
    """
    if cfg.retrieval_lr_scale == 1.0:
        return [{"params": list(network.parameters()), "lr_scale": 1.0}]
    retrieval, rest = [], []
    for name, parameter in network.named_parameters():
        (retrieval if RETRIEVAL_PARAMETERS in f".{name}" else rest).append(parameter)
    if not retrieval:
        raise TrainConfigError(f"retrieval_lr_scale={cfg.retrieval_lr_scale} but {cfg.model} has no "
                               "degradation key retrieval layers")
    return [{"params": rest, "lr_scale": 1.0}, {"params": retrieval, "lr_scale": cfg.retrieval_lr_scale}]


BUDGET_PROBE_STEPS = 60   # a time budget fixes `steps` at step min(warmup_steps, this)


def typical_step_time(step_times: list[float]) -> float:
    """Median wall time of the steps so far, the first third (the DataLoader filling up) left out."""
    return statistics.median(step_times[len(step_times) // 3:])


def last_step(cfg: TrainConfig) -> int:
    """The step this invocation ends at: ``steps``, or ``stop_after`` when that comes first."""
    return min(cfg.steps, cfg.stop_after) if cfg.stop_after > 0 else cfg.steps


def budget_steps(cfg: TrainConfig, step: int, step_times: list[float], spent_s: float, val_s: float = 0.0) -> int:
    """The step count that fits ``cfg.time_budget_minutes``, decided after ``step`` steps.

    ``step_times`` are the wall times of the steps so far (see :func:`typical_step_time`);
    ``spent_s`` is the wall time spent so far, setup included; ``val_s`` the time of one
    validation, due every ``val_every`` steps. 95% of what is left is planned; the result lies in
    ``[step + 1, cfg.steps]``.
    """
    per_step = typical_step_time(step_times) + val_s / cfg.val_every
    left = 0.95 * (60 * cfg.time_budget_minutes - spent_s)
    return max(step + 1, min(cfg.steps, step + int(left / per_step)))
