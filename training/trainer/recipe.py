"""Recipes: the training calls that make one shipped model, in order, in one file.

    python -m training.train_restorer --recipe training/configs/vlunet-tiny.yaml
    python -m training.train_restorer --recipe training/configs/vlunet-tiny-gpu.yaml --phase vlunet-tiny-gpu7 --show

A recipe is a YAML mapping with ``phases``, a list of training calls in order, and optionally
``starts_from: {recipe: FILE, phase: NAME}``: the calls of another recipe up to and including
that phase come first (the model was continued from there). Each phase lists the keys it changes
from the phase before it, or, when it names a ``base`` config file (the first phase must), from
that file; every phase sets its ``name`` (its run folder) and its exact ``steps``. A phase named
like the one before it is a second call of the same run, which resumes it (a schedule that was
lengthened half-way). ``export: FILE`` writes the run's EMA weights to FILE once the call is done,
for the next phase's ``init_from``. ``pilot: true`` marks a phase off the way to the shipped model
(a pilot kept for its record): the whole recipe skips it, ``--phase NAME`` runs it. Each call resolves to a :class:`TrainConfig`, checked as a
``--config`` file is; ``key=value`` overrides apply to every call (not ``name``: runs would mix).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config_files import _OneLineParser, apply_override, check_keys, read_config, read_mapping, split_override

from .config import TrainConfig, TrainConfigError, build_config

RECIPE_KEYS = ("phases", "starts_from")
PHASE_KEYS = ("base", "export", "pilot")   # besides the TrainConfig keys


@dataclass(frozen=True)
class Call:
    """One training call of a recipe: its config, where its weights are exported (or None), and
    whether it is a pilot (run only when named)."""
    config: TrainConfig
    export: str | None = None
    pilot: bool = False

    @property
    def name(self) -> str:
        return self.config.name


def read_recipe(path: Path, overrides: list[str] = ()) -> list[Call]:
    """The calls of the recipe ``path`` in order, ``starts_from``'s first, with ``overrides``
    (``key=value``) applied to each; any problem is one :class:`TrainConfigError` line."""
    path = Path(path)
    data = read_mapping(path, TrainConfigError)
    check_keys(data, RECIPE_KEYS, f"recipe key in {path}", TrainConfigError)
    parsed = [(item, *split_override(item, TrainConfigError)) for item in overrides]
    if any(keys == ["name"] for _, keys, _ in parsed):
        raise TrainConfigError("a recipe names each run itself: no name= override")
    calls = _earlier_calls(path, data.get("starts_from"), overrides)
    phases = data.get("phases")
    if not isinstance(phases, list) or not phases:
        raise TrainConfigError(f"{path}: 'phases' must be a non-empty list of training calls")
    keys: dict[str, Any] = {}
    for number, phase in enumerate(phases, 1):
        where = f"{path}, phase {number}"
        if not isinstance(phase, dict) or "name" not in phase or "steps" not in phase:
            raise TrainConfigError(f"{where}: each phase is a mapping that sets its 'name' and 'steps'")
        base = phase.get("base")
        if base is not None:
            keys = read_config(path.parent / str(base), TrainConfigError)
        elif number == 1:
            raise TrainConfigError(f"{where}: the first phase names its 'base' config file")
        keys = {**keys, **{k: v for k, v in phase.items() if k not in PHASE_KEYS}}
        mapping = dict(keys)
        for item, override_keys, value in parsed:
            apply_override(mapping, item, override_keys, value, TrainConfigError)
        try:
            config = build_config(mapping)
        except TrainConfigError as err:
            raise TrainConfigError(f"{where} ({phase['name']}): {err}") from None
        if any(c.name == config.name for c in calls) and calls[-1].name != config.name:
            raise TrainConfigError(f"{where}: run {config.name!r} was trained by an earlier phase; "
                                   "only a phase right after it may continue it")
        pilot = phase.get("pilot", False)
        if not isinstance(pilot, bool):
            raise TrainConfigError(f"{where} ({phase['name']}): pilot must be true or false, got {pilot!r}")
        calls.append(Call(config, phase.get("export"), pilot))
    return calls


def _earlier_calls(path: Path, starts_from: Any, overrides: list[str]) -> list[Call]:
    """The calls of ``starts_from``'s recipe up to and including its named phase ([] if None)."""
    if starts_from is None:
        return []
    if not isinstance(starts_from, dict) or set(starts_from) != {"recipe", "phase"}:
        raise TrainConfigError(f"{path}: 'starts_from' must be {{recipe: FILE, phase: NAME}}, got {starts_from!r}")
    earlier = read_recipe(path.parent / str(starts_from["recipe"]), overrides)
    names = [call.name for call in earlier]
    if starts_from["phase"] not in names:
        raise TrainConfigError(f"{path}: starts_from names phase {starts_from['phase']!r}, which "
                               f"{starts_from['recipe']} lacks ({', '.join(dict.fromkeys(names))})")
    last = len(names) - 1 - names[::-1].index(starts_from["phase"])
    return earlier[:last + 1]


def select(calls: list[Call], phase: str | None) -> list[Call]:
    """The calls of the phase (run name) ``phase``, or for None every call but the pilots."""
    if phase is None:
        return [call for call in calls if not call.pilot]
    chosen = [call for call in calls if call.name == phase]
    if not chosen:
        raise TrainConfigError(f"the recipe has no phase {phase!r} ({', '.join(dict.fromkeys(c.name for c in calls))})")
    return chosen


def parse_recipe_args(argv: list[str] | None) -> tuple[list[Call], bool]:
    """``--recipe FILE [--phase NAME] [--show] [key=value ...]`` -> (the calls to make, show only)."""
    parser = _OneLineParser(prog="python -m training.train_restorer", error=TrainConfigError,
                            description="Train a shipped model from its recipe, every phase in order.")
    parser.add_argument("--recipe", type=Path, required=True, help="recipe file (training/configs/<model>.yaml)")
    parser.add_argument("--phase", help="only the calls of this phase (run name)")
    parser.add_argument("--show", action="store_true", help="print each call's config as YAML instead of training")
    parser.add_argument("overrides", nargs="*", help="key=value settings for every call")
    args = parser.parse_args(argv)
    return select(read_recipe(args.recipe, args.overrides), args.phase), args.show
