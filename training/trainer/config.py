"""Typed training configuration: a YAML file of defaults, then ``key=value`` overrides.

    python -m training.train_restorer --config training/configs/base/cpu.yaml name=mine steps=10 batch_size=4

Values are parsed as YAML (``5``, ``true``, ``[a, b]``, ``{dim: 8}``; see
:mod:`training.config_files`). Every field is checked against its declared type; an unknown key,
a wrong type, a missing file or a YAML syntax error is one :class:`TrainConfigError` line naming it.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.degradations import CANONICAL, DegradationError, SamplerConfig
from training.config_files import ConfigError, check_keys, coerce, coerce_fields, field_names, read_command_line
from training.losses import PIXEL_LOSSES


#: ``compile`` values: eager, or a ``torch.compile`` mode.
COMPILE_MODES: tuple[str, ...] = ("none", "default", "reduce-overhead", "max-autotune-no-cudagraphs")


class TrainConfigError(ConfigError):
    """A training configuration that cannot be used (unknown key, wrong type, bad value)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a restoration training run depends on (saved with every checkpoint).

    Model: ``model`` is a registered VLU-Net (``core.list_models()``) or a baseline network
    (``training.baselines.list_baselines()``); ``model_overrides`` are its constructor keys.
    ``init_from`` is a weight file of the same network loaded into the network and its EMA before
    step 0 (fine-tuning: optimiser, schedule and data start afresh; a resumed run ignores it).
    Guidance: ``"encoder"`` feeds ``degradation_vector(encoder.encode_image(degraded))`` (paper
    Sec. 3.2); ``"uniform"`` feeds ``d=None`` (ablation (a), uniform retrieval).
    Schedule: ``warmup_steps`` linear from 0, then cosine from ``lr`` to ``min_lr`` at ``steps``.
    ``retrieval_lr_scale`` multiplies the learning rate of the retrieval layers
    ``Linear(d_I -> de_dim)``: our d_I is unit-norm (:func:`core.guidance.degradation_vector`)
    where the authors feed the adapter's LayerNorm output (norm about sqrt(512) = 22.6), and Adam
    moves a weight by about ``lr`` a step whatever its input's scale, so 22.6 restores the
    authors' pace of the retrieval logits.
    Loss: L1 against the clean patch; ``loss_balance`` p > 0 weights each item by its input's
    error to the power -p (:func:`training.losses.restoration_loss`), so that tasks whose inputs
    are already close (blur, rain) are not trained at the pace of those far off (haze, low
    light). p = 0, the default, is the paper's plain L1. ``ssim_weight`` w > 0 adds w x (1 - SSIM)
    to it (dehazing, where L1 leaves SSIM behind the dark channel prior's); ``fft_weight`` w > 0
    adds w x the L1 of the spectra (:func:`training.losses.frequency_l1`, for deblurring).
    ``pixel_loss="psnr"`` puts minus the items' mean PSNR (:func:`training.losses.psnr_loss`) in
    the L1's place (no ``loss_balance``: the logarithm already puts each item on its own scale).
    Data: ``task_repeat`` sets each task's share of an epoch (``repeat`` for the others);
    ``synthesis`` changes the sampling ranges of the training degradations, per family of
    :class:`core.degradations.SamplerConfig` and field of its config (``{blur:
    {motion_probability: 0.25}}``: more Gaussian blurs); validation keeps the held-out ranges.
    Speed: ``compile`` other than ``"none"`` trains through ``torch.compile(network,
    mode=compile)`` (for GPUs, where a step of many small operators is bound by their dispatch;
    ``reduce-overhead`` adds CUDA graphs). ``amp`` trains the forward under bfloat16 autocast on
    CUDA, ``amp_cpu`` on the CPU (off by default so that the float32 CPU phases reproduce as
    recorded; it pays on CPUs with bfloat16 instructions). Loss, optimiser, EMA and validation
    stay in float32. Measurements: ``docs/benchmarks.md``.
    Time budget: with ``time_budget_minutes`` > 0, ``steps`` is an upper bound and the run fixes
    its length at step ``min(warmup_steps, 60)`` from the median step time so far (the first
    third left out) and one timed validation, planning 95% of the rest of the budget (setup
    counts). The schedule does not depend on ``steps`` before then, so the run equals one started
    with ``steps=<that number>`` and no budget; the number is printed and kept in the summary
    (``budget_steps``) and in every checkpoint, and a resumed run keeps it.
    Stopping early: ``stop_after=N`` ends the run once step N is saved while the schedule still
    spans ``steps``; a larger ``stop_after`` (or 0) continues it, so a long phase can be taken a
    session at a time and the weights at step N have one exact recipe.
    Checkpoints: every ``checkpoint_minutes`` of wall time and/or ``checkpoint_steps`` steps
    (0 = off) and at the end, under ``<out_dir>/<name>/``, with ``log.csv`` and, with
    ``curves_html``, ``curves.html`` (``training.trainer.logs.write_curves`` makes it later).
    Resuming: with ``resume`` (the default) a run continues from ``<run>/latest.json``'s
    checkpoint; an unreadable one stops the run with one line naming the file and the newest
    intact earlier checkpoint, which ``resume_from=<folder>`` resumes from. No silent fallback.
    """

    name: str = "run"
    model: str = "vlunet-tiny"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    guidance: str = "encoder"
    encoder: str | None = None            # registered encoder name or adapter file (None: default)
    init_from: str | None = None          # weights to start from (fine-tuning); None = random init
    # data
    photos: str = "data/photos"
    tasks: tuple[str, ...] = CANONICAL
    repeat: int = 1
    task_repeat: dict[str, int] = field(default_factory=dict)   # per-task repeat, overrides `repeat`
    scale_range: tuple[float, float] = (0.35, 1.0)
    synthesis: dict[str, Any] = field(default_factory=dict)   # {family: {field: value}} (see above)
    patch_size: int = 64
    batch_size: int = 8                   # per process
    num_workers: int = 0
    # optimisation
    steps: int = 1000
    warmup_steps: int = 50
    lr: float = 2e-4
    min_lr: float = 1e-6
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    retrieval_lr_scale: float = 1.0       # lr multiplier of the D-GDM retrieval layers (see below)
    loss_balance: float = 0.0             # > 0: weight items by (input L1 error) ** -p (see above)
    ssim_weight: float = 0.0              # > 0: add this x (1 - SSIM) to the L1 loss (see above)
    fft_weight: float = 0.0               # > 0: add this x the frequency L1 (see above)
    pixel_loss: str = "l1"                # "l1", or "psnr": minus the items' mean PSNR (see above)
    compile: str = "none"                 # torch.compile mode of the training forward (see above)
    grad_clip: float = 1.0               # max global grad norm (0 = off)
    ema_decay: float = 0.0                # 0 = no EMA
    amp: bool = True                      # bfloat16 autocast on CUDA
    amp_cpu: bool = False                 # bfloat16 autocast on the CPU too (see above)
    seed: int = 0
    threads: int = 0                      # torch.set_num_threads (0 = leave as is)
    device: str = "auto"
    # validation and checkpoints
    val_every: int = 200
    val_crop: int = 96
    val_crops_per_photo: int = 1
    out_dir: str = "runs"
    checkpoint_minutes: float = 5.0
    checkpoint_steps: int = 0
    keep_checkpoints: int = 3
    curves_html: bool = True
    time_budget_minutes: float = 0.0      # > 0: fit the run into this wall time (see above)
    stop_after: int = 0                   # > 0: stop once this step is done and saved (see above)
    resume: bool = True                   # continue from the latest checkpoint of the run if any
    resume_from: str | None = None        # resume from this checkpoint folder instead of latest.json's
    progress: bool = True

    def __post_init__(self) -> None:
        check_types(self)
        if self.guidance not in ("encoder", "uniform"):
            raise TrainConfigError(f"guidance must be 'encoder' or 'uniform', got {self.guidance!r}")
        if self.patch_size % 8 or self.patch_size < 16:
            raise TrainConfigError(f"patch_size must be a multiple of 8 and >= 16, got {self.patch_size}")
        if self.val_crop % 8 or self.val_crop < 16:
            raise TrainConfigError(f"val_crop must be a multiple of 8 and >= 16, got {self.val_crop}")
        for key in ("steps", "batch_size", "repeat", "keep_checkpoints", "val_crops_per_photo"):
            if getattr(self, key) < 1:
                raise TrainConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not self.retrieval_lr_scale > 0:
            raise TrainConfigError(f"retrieval_lr_scale must be > 0, got {self.retrieval_lr_scale}")
        if self.stop_after < 0:
            raise TrainConfigError(f"stop_after must be >= 0 (0: run to `steps`), got {self.stop_after}")
        if self.time_budget_minutes < 0:
            raise TrainConfigError(f"time_budget_minutes must be >= 0, got {self.time_budget_minutes}")
        if self.time_budget_minutes > 0 and self.warmup_steps < 4:
            raise TrainConfigError("time_budget_minutes needs warmup_steps >= 4: the step time is measured "
                                   f"during warm-up, got warmup_steps={self.warmup_steps}")
        if self.compile not in COMPILE_MODES:
            raise TrainConfigError(f"compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        if not 0 <= self.loss_balance <= 2:
            raise TrainConfigError(f"loss_balance must be in [0, 2] (0: plain L1), got {self.loss_balance}")
        if self.pixel_loss not in PIXEL_LOSSES:
            raise TrainConfigError(f"pixel_loss must be one of {', '.join(PIXEL_LOSSES)}, got {self.pixel_loss!r}")
        if self.pixel_loss == "psnr" and self.loss_balance > 0:
            raise TrainConfigError("pixel_loss=psnr needs loss_balance=0: the PSNR loss already puts each item "
                                   f"on its own scale, got loss_balance={self.loss_balance}")
        if not 0 <= self.ssim_weight <= 10:
            raise TrainConfigError(f"ssim_weight must be in [0, 10] (0: plain L1), got {self.ssim_weight}")
        if not 0 <= self.fft_weight <= 10:
            raise TrainConfigError(f"fft_weight must be in [0, 10] (0: plain L1), got {self.fft_weight}")
        if not 0 <= self.ema_decay < 1:
            raise TrainConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        unknown = [t for t in self.tasks if t not in CANONICAL]
        if unknown or not self.tasks:
            raise TrainConfigError(f"tasks must be a non-empty subset of {CANONICAL}, got {unknown or '[]'}")
        if self.resume_from is not None and not self.resume:
            raise TrainConfigError("resume_from is set but resume=false; drop one of them")
        for task, times in self.task_repeat.items():
            if task not in self.tasks:
                raise TrainConfigError(f"task_repeat names {task!r}, which is not in tasks {list(self.tasks)}")
            if not isinstance(times, int) or isinstance(times, bool) or times < 1:
                raise TrainConfigError(f"task_repeat[{task!r}] must be an integer >= 1, got {times!r}")

        synthesis_config(self.synthesis)   # one error line for a bad mapping

    def repeat_of(self, task: str) -> int:
        """How many times each train photo is used per epoch for ``task``."""
        return self.task_repeat.get(task, self.repeat)

    @property
    def sampler_config(self) -> SamplerConfig:
        """The synthesis ranges of the training patches (:func:`synthesis_config` of ``synthesis``)."""
        return synthesis_config(self.synthesis)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def synthesis_config(overrides: dict[str, Any]) -> SamplerConfig:
    """The :class:`SamplerConfig` with ``overrides`` (``{family: {field: value}}``) applied.

    An unknown family or field, a wrong type, or a value the family's config refuses (a
    probability outside [0, 1], a range whose low end exceeds its high end: ``RangeConfig``) is
    one :class:`TrainConfigError` naming it.
    """
    base = SamplerConfig()
    changes = {}
    check_keys(overrides, field_names(SamplerConfig), "synthesis family", TrainConfigError)
    for family, values in overrides.items():
        if not isinstance(values, dict):
            raise TrainConfigError(f"synthesis[{family!r}] must map fields to values, got {values!r}")
        kind = type(getattr(base, family))
        check_keys(values, field_names(kind), f"synthesis[{family!r}] field", TrainConfigError)
        typed = coerce_fields(kind, values, TrainConfigError)
        try:
            changes[family] = dataclasses.replace(getattr(base, family), **typed)
        except DegradationError as err:                  # the family config checks its ranges
            raise TrainConfigError(f"synthesis[{family!r}]: {err}") from None
    return dataclasses.replace(base, **changes)


def check_types(cfg: TrainConfig) -> None:
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        object.__setattr__(cfg, f.name, coerce(f.name, getattr(cfg, f.name), hints[f.name], TrainConfigError))


def build_config(data: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a plain mapping; an unknown key is one error naming it."""
    check_keys(data, field_names(TrainConfig), "training config key", TrainConfigError)
    return TrainConfig(**data)


def parse_args(argv: list[str] | None) -> TrainConfig:
    """``--config FILE [key=value ...]`` -> :class:`TrainConfig` (see :mod:`training.config_files`)."""
    return build_config(read_command_line(argv, "python -m training.train_restorer",
                                          "Train a restoration network (VLU-Net or a baseline).", TrainConfigError))
