"""Export the latest checkpoint of a training run as a shipped weights file.

    python -m training.export_restorer --run runs/vlunet-tiny --out assets/models/vlunet-tiny.safetensors
    python -m training.export_restorer --checkpoint runs/vlunet-tiny-p6/checkpoints/step_00000939 --out ...

Takes the EMA weights when the run keeps them (``--weights model`` for the raw ones) and writes
them with :func:`core.save_model` (safetensors, config in the metadata); ``info`` records the
steps, training time, data, recipe, the encoder adapters the run was trained with (sha256) and
the last validation PSNR. A checkpoint before the end of its schedule (a run stopped early, or
``--checkpoint`` naming an earlier folder) gets ``stop_after=<its step>`` in its recipe: the
command that reproduces exactly those weights. Warns when the shipped encoder differs from the
run's.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import core
from training.trainer.state import ResumeError, latest_checkpoint

RECIPE = "python -m training.train_restorer --config training/configs/{name}.yaml"
RECIPE_PHASE = "python -m training.train_restorer --recipe {recipe} --phase {name}"
RECIPES = Path(__file__).resolve().parent / "configs"


def recipe_command(name: str) -> str:
    """The command that trains run ``name``: its phase in a shipped recipe (training/configs/*.yaml
    with ``phases``), else a config file named after the run."""
    import yaml
    for path in sorted(RECIPES.glob("*.yaml")):
        try:
            phases = (yaml.safe_load(path.read_text()) or {}).get("phases") or []
        except (yaml.YAMLError, AttributeError):
            continue
        if any(isinstance(p, dict) and p.get("name") == name for p in phases):
            return RECIPE_PHASE.format(recipe=f"training/configs/{path.name}", name=name)
    return RECIPE.format(name=name)


def export(run: Path | None, out: Path, weights: str = "ema", folder: Path | None = None) -> dict:
    """Write ``out`` from checkpoint ``folder``, by default the latest of ``run``; returns the stored info."""
    if folder is None:
        folder = latest_checkpoint(run)
        if folder is None:
            raise FileNotFoundError(f"{run} has no checkpoint yet (no latest.json)")
    elif not (folder / "state.json").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint folder (no state.json)")
    source = folder / f"{weights}.safetensors"
    if not source.is_file():
        source = folder / "model.safetensors"
    network = core.load_model(source)
    state = json.loads((folder / "state.json").read_text())
    summary, config = state.get("summary", {}), state.get("config", {})
    recipe = recipe_command(config.get("name", folder.parents[1].name))
    if config.get("steps") and state["step"] < config["steps"]:
        recipe += f" stop_after={state['step']}"
    info = {**summary, "weights": source.stem, "exported_from": str(folder), "planned_steps": config.get("steps"),
            "recipe": recipe,
            "exported_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "train_config": config}
    core.save_model(network, out, info=info)
    return info


def shipped_encoder_matches(info: dict) -> bool | None:
    """Whether assets/encoder's default adapters are those the run was trained with (None: unknown)."""
    record = info.get("encoder") or {}
    try:
        from core.encoder import resolve_encoder
        path = resolve_encoder(None)
    except FileNotFoundError:
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest() == record.get("sha256") if record else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export_restorer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/vlunet-tiny"))
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a checkpoint folder (<run>/checkpoints/step_N) instead of the run's latest")
    parser.add_argument("--out", type=Path, default=Path("assets/models/vlunet-tiny.safetensors"))
    parser.add_argument("--weights", choices=("ema", "model"), default="ema")
    args = parser.parse_args(argv)
    try:
        info = export(args.run, args.out, args.weights, args.checkpoint)
    except (FileNotFoundError, ResumeError, core.CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {info.get('steps')} steps, {info.get('train_time_s')} s of training, "
          f"val PSNR {info.get('val_psnr', float('nan')):.2f} dB (input {info.get('val_psnr_input', float('nan')):.2f})")
    if shipped_encoder_matches(info) is False:
        print("warning: assets/encoder holds other adapters than the run was trained with "
              f"(sha256 {info['encoder']['sha256'][:12]}...); the app's guidance will not match", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
