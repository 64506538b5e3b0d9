"""The training loop: L1 loss, AdamW, warm-up + cosine, clipping, EMA, AMP, DDP, resume.

``train(cfg)`` runs (or continues) the run ``<out_dir>/<name>`` to ``cfg.steps`` optimiser steps.
Under ``torchrun`` every process trains on its own block of each global batch and DDP averages
the gradients; process 0 validates, logs and writes checkpoints.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from core.guidance import degradation_vector, network_convention
from training.losses import restoration_loss

from .config import TrainConfig, TrainConfigError
from .data import BatchPlan, batch_loader, patch_dataset, photo_suite, psnr_batch
from .ddp import Distributed
from .logs import CsvLog, write_curves
from .models import build_network, count_parameters, uses_guidance
from .schedule import BUDGET_PROBE_STEPS, budget_steps, last_step, learning_rate, parameter_groups, typical_step_time
from .state import ResumeError, load_checkpoint, load_same_network, resume_point, save_checkpoint


def compiled(module: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``module`` itself for mode ``"none"``, else ``torch.compile(module, mode=mode)`` (same parameters)."""
    return module if mode == "none" else torch.compile(module, mode=mode)


def autocast(cfg: TrainConfig, device: torch.device):
    """The bfloat16 autocast context of the training forward: on CUDA with ``amp``, on the CPU
    with ``amp_cpu``; a no-op otherwise (and on other devices)."""
    if (device.type == "cuda" and cfg.amp) or (device.type == "cpu" and cfg.amp_cpu):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def load_encoder(cfg: TrainConfig, device: torch.device):
    """The frozen degradation encoder giving d_I and a record of its adapter file (name, sha256)."""
    from core.encoder import DegradationEncoder, resolve_encoder
    path = resolve_encoder(cfg.encoder)
    record = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return DegradationEncoder.from_pretrained(path, device=device).freeze(), record


def hardware(device: torch.device, world_size: int = 1) -> str:
    """What trained the run, for its record: the GPU's name, or the CPU and its torch threads."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    return f"{world_size} x {name}" if world_size > 1 else name


def guidance_vectors(encoder, degraded: torch.Tensor, network: torch.nn.Module | None = None) -> torch.Tensor | None:
    """B x 512 d_I of the degraded batch in the form ``network`` reads it (its config's
    ``degradation_vector``: unit-norm for ours, raw for the authors'; :mod:`core.guidance`), or None."""
    if encoder is None:
        return None
    convention = network_convention(getattr(network, "module", network))   # DDP wraps the network
    with torch.no_grad():
        return degradation_vector(encoder.encode_image(degraded), convention)


def init_weights(path: str, network: torch.nn.Module, ema: torch.nn.Module | None) -> None:
    """Load the weight file ``path`` (same network and configuration) into ``network`` and ``ema``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"init_from: {path} does not exist")
    source = load_same_network(Path(path), network, f"init_from: {path}")
    for target in (network, ema):
        if target is not None:
            target.load_state_dict(source.state_dict())


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def validate(network, encoder, suite, device, batch: int = 8) -> dict:
    """Mean PSNR (torch, clipped RGB) of the network and of the degraded input over ``suite``."""
    was_training = network.training
    network.eval()
    out, inp = [], []
    for i in range(0, len(suite), batch):
        chunk = suite[i:i + batch]
        sizes = {tuple(s.clean.shape) for s in chunk}
        groups = [chunk] if len(sizes) == 1 else [[s] for s in chunk]
        for group in groups:
            degraded = torch.cat([s.degraded for s in group]).to(device)
            clean = torch.cat([s.clean for s in group]).to(device)
            restored = network(degraded, guidance_vectors(encoder, degraded, network))
            out.append(psnr_batch(restored.float(), clean).cpu())
            inp.append(psnr_batch(degraded, clean).cpu())
    network.train(was_training)
    return {"val_psnr": float(torch.cat(out).mean()), "val_psnr_input": float(torch.cat(inp).mean())}


@dataclasses.dataclass
class Trainee:
    """What a run trains and steers with: the network, its EMA (None without), the optimiser and
    the frozen encoder giving d_I (None for uniform guidance) with its record (file, sha256)."""
    network: torch.nn.Module
    ema: torch.nn.Module | None
    optimizer: torch.optim.Optimizer
    encoder: object | None
    encoder_record: dict | None
    guided: bool

    @property
    def validated(self) -> torch.nn.Module:
        """What validation measures: the EMA when kept."""
        return self.ema if self.ema is not None else self.network


def build_trainee(cfg: TrainConfig, device: torch.device) -> Trainee:
    """The network (seeded by ``cfg.seed``), its EMA, AdamW and, for encoder guidance, the encoder."""
    torch.manual_seed(cfg.seed)
    try:
        network = build_network(cfg.model, cfg.model_overrides).to(device)
    except (TypeError, ValueError) as exc:
        where = f"model {cfg.model!r} with model_overrides {cfg.model_overrides}: " if cfg.model_overrides else ""
        raise TrainConfigError(f"{where}{exc}") from None
    guided = cfg.guidance == "encoder" and uses_guidance(network)
    encoder, encoder_record = load_encoder(cfg, device) if guided else (None, None)
    ema = copy.deepcopy(network).requires_grad_(False) if cfg.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(parameter_groups(network, cfg), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return Trainee(network, ema, optimizer, encoder, encoder_record, guided)


def resume_or_init(cfg: TrainConfig, trainee: Trainee) -> tuple[TrainConfig, int, float]:
    """Continue from the run's checkpoint (its step, elapsed seconds and fixed step count) when
    resuming, else load ``init_from`` if set; returns (config, start step, elapsed seconds)."""
    folder = resume_point(cfg.run_dir, cfg.resume_from) if cfg.resume else None
    if folder is None:
        if cfg.init_from:
            init_weights(cfg.init_from, trainee.network, trainee.ema)
        return cfg, 0, 0.0
    restored = load_checkpoint(folder, trainee.network, trainee.optimizer, trainee.ema)
    if cfg.time_budget_minutes > 0 and restored.state.get("budget_steps"):
        cfg = dataclasses.replace(cfg, steps=int(restored.state["budget_steps"]))
    trained_with = (restored.state.get("summary") or {}).get("encoder")
    record = trainee.encoder_record
    if trainee.guided and trained_with and trained_with.get("sha256") != record["sha256"]:
        raise ResumeError(f"{folder} was trained with other encoder adapters (sha256 {trained_with['sha256'][:12]}...) "
                          f"than {cfg.encoder or 'the shipped default'} ({record['sha256'][:12]}...); "
                          "pass encoder=<that file> or start a new run")
    return cfg, restored.step, float(restored.state.get("elapsed_s", 0.0))


def optimizer_step(cfg: TrainConfig, trainee: Trainee, model: torch.nn.Module, amp, step: int,
                   degraded: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One step on a batch: learning rate of ``step``, d_I, forward, loss, backward, clipping,
    AdamW, EMA; returns (loss, gradient norm before clipping, learning rate)."""
    lr = learning_rate(cfg, step)
    for group in trainee.optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    d = guidance_vectors(trainee.encoder, degraded, model)
    with amp:
        loss = restoration_loss(model(degraded, d).float(), clean, degraded, cfg.loss_balance, cfg.ssim_weight,
                                cfg.fft_weight, cfg.pixel_loss)
    trainee.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(trainee.network.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    trainee.optimizer.step()
    if trainee.ema is not None:
        ema_update(trainee.ema, trainee.network, cfg.ema_decay)
    return loss, grad_norm, lr


def training_data(cfg: TrainConfig, ddp: Distributed):
    """The patch dataset, this process's batch plan and (process 0 only) the validation suite."""
    dataset = patch_dataset(cfg.photos, cfg.tasks, cfg.patch_size, cfg.seed,
                            {t: cfg.repeat_of(t) for t in cfg.tasks}, cfg.scale_range, cfg.sampler_config)
    plan = BatchPlan(len(dataset), cfg.batch_size, ddp.world_size, ddp.rank, cfg.seed)
    suite = photo_suite(cfg.photos, "val", cfg.tasks, crop=cfg.val_crop, crops_per_photo=cfg.val_crops_per_photo,
                        resize_short=2 * cfg.val_crop, seed=cfg.seed) if ddp.is_main else []
    return dataset, plan, suite


def run_record(cfg: TrainConfig, trainee: Trainee, ddp: Distributed) -> dict:
    """What every checkpoint's summary says about the run: model, data, encoder, hardware."""
    return {"model": cfg.model, "parameters": count_parameters(trainee.network), "guidance": cfg.guidance,
            "data": f"{cfg.photos} train photos x {', '.join(cfg.tasks)} (synthetic, core.degradations)",
            "patch_size": cfg.patch_size, "init_from": cfg.init_from, "batch_size": cfg.batch_size * ddp.world_size,
            "encoder": trainee.encoder_record, "hardware": hardware(ddp.device, ddp.world_size)}


def train(cfg: TrainConfig) -> dict:
    """Train to ``cfg.steps``; returns a summary (steps, time, throughput, last validation)."""
    started = time.monotonic()
    ddp = Distributed.from_env(cfg.device)
    device = ddp.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True   # fixed patch size: let cuDNN pick its fastest kernels
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    trainee = build_trainee(cfg, device)
    network, encoder, validated = trainee.network, trainee.encoder, trainee.validated
    cfg, start, elapsed = resume_or_init(cfg, trainee)
    model = compiled(ddp.wrap(network, find_unused=uses_guidance(network) and not trainee.guided), cfg.compile)

    run_dir = cfg.run_dir
    dataset, plan, suite = training_data(cfg, ddp)
    log = CsvLog(run_dir / "log.csv", resume_step=start) if ddp.is_main else None
    info = run_record(cfg, trainee, ddp)
    amp = autocast(cfg, device)

    curves_at = [-math.inf]
    budget = {"budget_steps": cfg.steps} if cfg.time_budget_minutes > 0 and start >= min(cfg.warmup_steps, BUDGET_PROBE_STEPS) else {}

    def checkpoint(step: int, last_val: dict) -> None:
        summary = {**info, "steps": step, "train_time_s": round(elapsed, 1), "skipped_images": dataset.skipped, **last_val}
        save_checkpoint(run_dir, step, network, trainee.optimizer, trainee.ema, keep=cfg.keep_checkpoints, info=summary,
                        extra={"elapsed_s": elapsed, "config": cfg.to_dict(), "summary": summary, **budget})
        if not cfg.curves_html:
            return
        if step == cfg.steps or time.monotonic() - curves_at[0] > 120:   # the HTML embeds plotly.js (3 MB)
            write_curves(run_dir / "log.csv", run_dir / "curves.html", f"{cfg.name}: {cfg.model}")
            curves_at[0] = time.monotonic()

    last_val: dict = {}
    last_ckpt = time.monotonic()
    bar = tqdm(total=cfg.steps, initial=start, disable=not (cfg.progress and ddp.is_main),
               desc=cfg.name, dynamic_ncols=True, mininterval=2.0)
    model.train()
    patches_done, compute_s = 0, 0.0
    step_times: list[float] = []
    step = start
    t0 = time.perf_counter()
    batches = batch_loader(dataset, plan, start, cfg.steps, cfg.num_workers) if start < last_step(cfg) else ()
    for degraded, clean, _, _ in batches:
        degraded, clean = degraded.to(device, non_blocking=True), clean.to(device, non_blocking=True)
        loss, grad_norm, lr = optimizer_step(cfg, trainee, model, amp, step, degraded, clean)
        step += 1
        dt, t0 = time.perf_counter() - t0, time.perf_counter()   # wall time: data, step, last validation
        elapsed += dt
        compute_s += dt
        patches_done += cfg.batch_size * ddp.world_size
        step_times.append(dt)
        fresh_val = None
        if cfg.time_budget_minutes > 0 and not budget and step >= min(cfg.warmup_steps, BUDGET_PROBE_STEPS):
            t_val = time.perf_counter()   # one validation now, timed, so the plan counts the later ones
            fresh_val = validate(validated, encoder, suite, device) if ddp.is_main else None
            val_s = time.perf_counter() - t_val
            cfg = dataclasses.replace(cfg, steps=ddp.broadcast_int(
                budget_steps(cfg, step, step_times, time.monotonic() - started, val_s)))
            budget = {"budget_steps": cfg.steps}
            bar.total = cfg.steps
            if ddp.is_main:
                bar.write(f"{cfg.name}: time budget {cfg.time_budget_minutes:g} min; after {step} steps, median step "
                          f"{typical_step_time(step_times):.3f} s, validation {val_s:.1f} s "
                          f"-> steps={cfg.steps}")
        if not ddp.is_main:
            if step >= last_step(cfg):
                break
            continue
        row = {"step": step, "epoch": plan.epoch_of(step - 1), "loss": f"{loss.item():.6f}", "lr": f"{lr:.3e}",
               "grad_norm": f"{float(grad_norm):.4f}", "step_time_s": f"{dt:.4f}",
               "patches_per_s": f"{cfg.batch_size * ddp.world_size / dt:.2f}", "elapsed_s": f"{elapsed:.1f}"}
        if fresh_val is None and (step % cfg.val_every == 0 or step == last_step(cfg)):
            fresh_val = validate(validated, encoder, suite, device)
        if fresh_val is not None:
            last_val = fresh_val
            row.update({k: f"{v:.3f}" for k, v in last_val.items()})
        log.write(**row)
        bar.set_postfix(loss=f"{loss.item():.4f}", val_psnr=f"{last_val.get('val_psnr', float('nan')):.2f}",
                        **({"skipped_images": dataset.skipped} if dataset.skipped else {}))
        bar.update(1)
        due_time = cfg.checkpoint_minutes > 0 and time.monotonic() - last_ckpt >= 60 * cfg.checkpoint_minutes
        due_step = cfg.checkpoint_steps > 0 and step % cfg.checkpoint_steps == 0
        if due_time or due_step or step == last_step(cfg):
            checkpoint(step, last_val)
            last_ckpt = time.monotonic()
        if step >= last_step(cfg):
            break
    bar.close()
    if ddp.is_main and cfg.curves_html and step == start and start > 0 and not (run_dir / "curves.html").exists():
        write_curves(run_dir / "log.csv", run_dir / "curves.html", f"{cfg.name}: {cfg.model}")
    summary = {**info, "steps": step, "train_time_s": round(elapsed, 1), "skipped_images": dataset.skipped, **budget,
               "patches_per_s": round(patches_done / compute_s, 2) if compute_s else None, **last_val}
    ddp.close()
    return summary
