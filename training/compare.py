"""The comparison table: VLU-Net against ablation (a), baseline (b) and classical methods (c), held-out photos.

    python -m training.compare            # defaults below; writes runs/compare/{comparison.md,csv,long.csv}

Every method is evaluated on the same held-out photo suite (:func:`training.evaluate.load_suite`).
Networks come from training runs (the latest checkpoint of each ``--runs`` folder; their budget --
steps x batch x patch, wall time -- is printed beside them) and from shipped files (``--shipped``;
by default every model in ``core.pretrained``); a shipped model with registered one-by-one
specialists (``core.pretrained.SPECIALISTS``) also gets a row in the one-by-one mode. Shipped models
restore with their registered self-ensemble (``core.pretrained.default_ensemble``), as the studio does.
Classical methods fill only the tasks they address; those given oracle information say so. Their
results depend only on the suite and are cached in ``<out>/cache`` (``--fresh`` recomputes them).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd
import torch

from training.baselines.classical import METHODS, is_blind
from core.ensemble import ENSEMBLES
from training.evaluate import detect, evaluate, load_suite, network_method
from training.trainer.models import load_network
from training.trainer.state import latest_checkpoint

DEFAULT_RUNS = ("runs/compare-vlunet", "runs/compare-vlunet-retrieval", "runs/compare-uniform", "runs/compare-promptir")
LABELS = {("vlunet", "encoder"): "VLU-Net (encoder guidance)", ("vlunet", "uniform"): "(a) VLU-Net, uniform retrieval",
          ("promptir", "encoder"): "(b) PromptIR-style end-to-end", ("promptir", "uniform"): "(b) PromptIR-style end-to-end"}


def run_entry(run: Path) -> tuple[str, str, Path]:
    """(label, budget, weights file) of a run's latest checkpoint (EMA weights when kept)."""
    folder = latest_checkpoint(run)
    if folder is None:
        raise FileNotFoundError(f"{run} has no checkpoint (train it first)")
    state = json.loads((folder / "state.json").read_text())
    cfg, summary = state["config"], state.get("summary", {})
    family = "promptir" if cfg["model"].startswith("promptir") else "vlunet"
    label = LABELS[(family, cfg["guidance"])]
    scale = cfg.get("retrieval_lr_scale", 1.0)
    if (family, cfg["guidance"]) == ("vlunet", "encoder") and scale != 1.0:   # uniform retrieval trains no retrieval layer
        label = f"VLU-Net (encoder guidance, retrieval lr x{scale:g})"
    label = f"{label} [{cfg['model']}, {summary.get('parameters', 0) / 1e6:.2f} M]"
    budget = f"{state['step']} steps x {cfg['batch_size']} patches of {cfg['patch_size']}^2"
    weights = folder / "ema.safetensors"
    return label, budget, weights if weights.is_file() else folder / "model.safetensors"


def registered_name(path: Path) -> str | None:
    """The ``core.pretrained`` name whose shipped file is ``path``, or None."""
    from core import pretrained
    by_file = {(pretrained.ASSETS / entry.file).resolve(): name for name, entry in pretrained.PRETRAINED.items()}
    return by_file.get(path.resolve())


def ensemble_of(path: Path) -> str:
    """The self-ensemble the studio restores ``path`` with: its registered one, else one pass."""
    from core.pretrained import default_ensemble
    name = registered_name(path)
    return default_ensemble(name) if name else "none"


def ensemble_label(ensemble: str) -> str:
    """The label's note of a self-ensemble (nothing for one pass)."""
    return "" if ensemble == "none" else f", self-ensemble {ensemble} x{len(ENSEMBLES[ensemble])}"


def shipped_entry(path: Path) -> tuple[str, str, Path]:
    from core.checkpoint import checkpoint_info
    info = checkpoint_info(path)
    where = info.get("hardware", "a shared CPU thread")   # files exported before the trainer recorded it: the CPU model
    budget = (f"{info.get('steps', '?')} steps x {info.get('batch_size', '?')} patches of {info.get('patch_size', '?')}^2, "
              f"{float(info.get('train_time_s', 0)) / 60:.0f} min wall on {where}")
    if info.get("init_from"):   # a fine-tuning phase: name the run it continued (its card has both phases)
        source = Path(info["init_from"])   # <out_dir>/<run>/checkpoints/step_N/<weights>, or any weights file
        budget += f", continuing {source.parents[2].name if len(source.parts) >= 4 else source}"
    return f"VLU-Net shipped ({path.name}{ensemble_label(ensemble_of(path))})", budget, path


def table(long: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Rows: methods; columns: PSNR per task, the 7-task average (methods covering all tasks), budget."""
    wide = long.pivot_table(index="method", columns="task", values="psnr", aggfunc="mean", sort=False)
    wide = wide.reindex(columns=tasks)
    wide["average"] = wide[tasks].mean(axis=1, skipna=False)
    wide["SSIM avg"] = long.groupby("method", sort=False)["ssim"].mean().where(wide["average"].notna())
    budgets = long.groupby("method", sort=False)["budget"].first()
    wide["budget"] = budgets
    return wide.reindex(list(dict.fromkeys(long["method"]))).reset_index()


def by_task(long: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """One row per task and method: PSNR, SSIM, how many photos it makes worse than their input
    (lower PSNR), and whether it is blind (sees only the degraded image); best PSNR first."""
    frame = long.assign(worse=(long["psnr"] < long["input_psnr"] - 1e-9) & (long["method"] != "degraded input"))
    rows = frame.groupby(["task", "method"], sort=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), worse=("worse", "sum"), photos=("image", "size")).reset_index()
    rows["blind"] = rows["method"].map(lambda m: "" if m == "degraded input" else ("yes" if is_blind(m) else "no"))
    rows["made worse"] = [f"{int(w)}/{n}" for w, n in zip(rows["worse"], rows["photos"])]
    rows["order"] = rows["task"].map({t: i for i, t in enumerate(tasks)})
    rows = rows.sort_values(["order", "psnr"], ascending=[True, False])
    return rows[["task", "method", "blind", "psnr", "ssim", "made worse"]].reset_index(drop=True)


def markdown(wide: pd.DataFrame) -> str:
    fmt = wide.copy()
    for col in fmt.columns:
        if col not in ("method", "budget", "task", "blind", "made worse"):
            digits = 3 if col in ("SSIM avg", "ssim") else 2
            fmt[col] = fmt[col].map(lambda v, d=digits: "" if pd.isna(v) else f"{v:.{d}f}")
    return fmt.to_markdown(index=False)


def one_by_one_entries(paths: list[Path]) -> list[tuple[str, str, Path, dict[str, Path]]]:
    """(label, budget, all-in-one weights, {type: specialist weights}) of each shipped file in
    ``paths`` whose registered model has one-by-one specialists."""
    from core import pretrained
    entries = []
    for path in paths:
        name = registered_name(path)
        specialists = pretrained.specialists_of(name) if name else {}
        if specialists:
            files = {kind: pretrained.resolve_weights(name) for kind, name in specialists.items()}
            label = (f"VLU-Net shipped, one-by-one ({path.name} + {', '.join(files)} specialists"
                     f"{ensemble_label(ensemble_of(path))})")
            entries.append((label, "the all-in-one model and each specialist's budget: see their cards", path, files))
    return entries


def shipped_files() -> list[Path]:
    """The files of every registered all-in-one model (``core.pretrained``), the default first (the
    specialists are evaluated in their model's one-by-one row)."""
    from core import pretrained
    names = [pretrained.DEFAULT] + [n for n in pretrained.all_in_one_names() if n != pretrained.DEFAULT]
    return [pretrained.ASSETS / pretrained.PRETRAINED[n].file for n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", type=Path, default=[Path(r) for r in DEFAULT_RUNS])
    parser.add_argument("--shipped", nargs="*", type=Path, default=shipped_files(),
                        help="weight files (default: every shipped model in assets/models)")
    parser.add_argument("--photos", default="data/photos")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--crops-per-photo", type=int, default=2)
    parser.add_argument("--classical", nargs="*", default=list(METHODS), help="classical methods to include")
    parser.add_argument("--fresh", action="store_true", help="recompute the cached classical results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    unknown = [m for m in args.classical if m not in METHODS]
    if unknown:
        print(f"error: unknown classical method {unknown[0]!r}; known: {', '.join(METHODS)}", file=sys.stderr)
        return 2
    try:
        shipped = [p for p in args.shipped if p.is_file()]
        entries = [run_entry(r) for r in args.runs] + [shipped_entry(p) for p in shipped]
        one_by_one = one_by_one_entries(shipped)
        images = load_suite("photos", args.photos, crop=args.crop, crops_per_photo=args.crops_per_photo)
        encoder = None
        if entries:
            from core.encoder import DegradationEncoder
            encoder = DegradationEncoder.from_pretrained()
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tasks = list(dict.fromkeys(im.task for im in images))
    detected = detect(encoder, images) if entries else None
    frames = [evaluate(None, images).assign(method="degraded input", budget="")]
    for label, budget, weights in entries:
        network = load_network(weights)
        guided = encoder if hasattr(network, "stages") else None
        method = network_method(network, guided, ensemble=ensemble_of(weights))
        frames.append(evaluate(method, images, detected).assign(method=label, budget=budget))
        print(f"evaluated {label}", file=sys.stderr)
    for label, budget, weights, files in one_by_one:
        specialists = {kind: load_network(path) for kind, path in files.items()}
        method = network_method(load_network(weights), encoder, ensemble=ensemble_of(weights), specialists=specialists)
        frames.append(evaluate(method, images, detected).assign(method=label, budget=budget))
        print(f"evaluated {label}", file=sys.stderr)
    for name in args.classical:   # deterministic given the suite: cached under <out>/cache
        applies, fn = METHODS[name]
        subset = [im for im in images if im.task in applies]
        cache = args.out / "cache" / f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}-{args.crop}x{args.crops_per_photo}.csv"
        if subset and cache.is_file() and not args.fresh:
            frames.append(pd.read_csv(cache, keep_default_na=False))
        elif subset:
            frame = evaluate(fn, subset).assign(method=name, budget="no training")
            cache.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(cache, index=False)
            frames.append(frame)
            print(f"evaluated {name}", file=sys.stderr)
    long = pd.concat(frames, ignore_index=True)
    wide = table(long, tasks)
    args.out.mkdir(parents=True, exist_ok=True)
    long.to_csv(args.out / "long.csv", index=False)
    wide.to_csv(args.out / "comparison.csv", index=False)
    text = (f"PSNR (dB) on {len(images) // len(tasks)} held-out photo crops of {args.crop} px per task "
            f"(`python -m training.compare`)\n\n{markdown(wide)}\n")
    (args.out / "comparison.md").write_text(text)
    tasks_table = by_task(long, tasks)
    tasks_table.to_csv(args.out / "by_task.csv", index=False)
    by_task_text = (f"By task: PSNR (dB), SSIM, photos made worse than their input; blind = sees only the degraded "
                    f"image\n\n{markdown(tasks_table)}\n")
    (args.out / "by_task.md").write_text(by_task_text)
    print(text)
    print(by_task_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
