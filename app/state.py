"""The restorer, loaded once and lazily (thread-safe), and what went wrong if it could not be."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

import core
from core.encoder import BackboneUnavailableError, DegradationEncoder, EncoderAssetMissingError
from core.official import is_release
from core.one_by_one import TYPES

from .config import AppConfig
from .jobs import Line
from .models import check_choice, clip_config, default_model, label


class ModelUnavailableError(RuntimeError):
    """The restoration weights cannot be loaded; the message says how to create them."""


def default_factory(config: AppConfig) -> tuple[core.Restorer, str]:
    """Load ``config.model``: the authors' release with its own CLIP and adapters, or our network
    with the shipped encoder (without one, restore with uniform retrieval) and the one-by-one
    specialists registered for it (:data:`core.pretrained.SPECIALISTS`; the authors' have none).

    Returns the restorer and a one-line note about what was loaded.
    """
    name = default_model(config)
    if is_release(name):
        try:
            restorer = core.Restorer.from_official(name, device=config.device, clip_config=clip_config(config))
        except (core.OfficialCheckpointError, BackboneUnavailableError) as exc:
            raise ModelUnavailableError(str(exc)) from None
        millions = sum(p.numel() for p in restorer.network.parameters()) / 1e6
        return restorer, f"the authors' network `{label(name)}` ({millions:.1f} M parameters) with their CLIP and adapters"
    network = core.load_model(core.pretrained.resolve_weights(config.model), device=config.device)
    specialists, missing = core.load_specialists(core.pretrained.specialists_of(name), config.device, strict=False)
    try:
        encoder = DegradationEncoder.from_pretrained(config.encoder, device=config.device)
        note = f"network `{name}`, encoder `{encoder.config.backbone}`"
    except (EncoderAssetMissingError, BackboneUnavailableError) as exc:
        encoder = None
        note = f"network `{name}`, no degradation encoder ({exc}); restoring with uniform retrieval"
    if specialists:
        note += f", one-by-one specialists: {', '.join(specialists)}"
    if missing:
        note += f"; specialists left out: {'; '.join(missing)}"
    return core.Restorer(network, encoder, device=config.device, specialists=specialists,
                         ensemble=core.pretrained.default_ensemble(name)), note


class ModelHolder:
    """Builds each model's restorer on first use, once, under a lock; a failure is retried on the
    next call (weights that land while the studio runs are picked up). At most ``keep`` models stay
    loaded; the least recently used one is let go first.

    :meth:`submit` runs work on the holder's own thread, always the same one: torch's OpenMP
    threads belong to the thread that calls it, so one long-lived caller keeps one warm team
    instead of starting a new one in whichever server thread takes the request.
    """

    def __init__(self, config: AppConfig,
                 factory: Callable[[AppConfig], core.Restorer | tuple[core.Restorer, str]] | None = None,
                 keep: int = 2):
        self.config = config
        self.factory = factory or default_factory
        self.keep = keep
        self.default = default_model(config)
        self._lock = threading.Lock()
        self._restorers: OrderedDict[str, core.Restorer] = OrderedDict()
        self.notes: dict[str, str] = {}
        self.load_times: dict[str, float] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlunet-model")
        self.line = Line(self.submit)   # the jobs for that thread: positions, estimates, cancelling

    def is_loaded(self, model: str | None = None) -> bool:
        return (model or self.default) in self._restorers

    @property
    def loaded(self) -> bool:
        """Whether the default model is loaded."""
        return self.is_loaded()

    @property
    def note(self) -> str:
        return self.notes.get(self.default, "")

    @property
    def load_seconds(self) -> float:
        return self.load_times.get(self.default, 0.0)

    def get(self, model: str | None = None) -> core.Restorer:
        """The restorer of ``model`` (None: the default; the caller checks it is offered, see
        :func:`app.models.check_choice`); raises ModelUnavailableError (one line, with the fix)."""
        key = check_choice(self.config, model) if model and model != self.default else self.default
        restorer = self._restorers.get(key)
        if restorer is not None:
            return restorer
        with self._lock:
            if key not in self._restorers:
                start = time.perf_counter()
                config = self.config if key == self.default else replace(self.config, model=key)
                try:
                    made = self.factory(config)
                except (FileNotFoundError, core.CheckpointError) as exc:
                    raise ModelUnavailableError(str(exc)) from None
                restorer, note = made if isinstance(made, tuple) else (made, "custom restorer")
                if isinstance(restorer, core.Restorer):
                    restorer.memory_budget = int(self.config.memory_budget_gb * 1024 ** 3)
                    restorer.calibrate()
                while len(self._restorers) >= self.keep:
                    self._restorers.popitem(last=False)
                self.notes[key] = note
                self.load_times[key] = time.perf_counter() - start
                self._restorers[key] = restorer
            self._restorers.move_to_end(key)
            return self._restorers[key]

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on the model thread (one at a time, in order of submission)."""
        return self._worker.submit(fn, *args, **kwargs)

    def specialist_types(self, model: str | None = None) -> list[str]:
        """The degradation types ``model`` has one-by-one specialists for (loading it), in the
        canonical order; none when it cannot be loaded or has no degradation encoder (the
        one-by-one mode chooses a specialist by what the encoder detects)."""
        try:
            restorer = self.get(model)
        except (ModelUnavailableError, ValueError):
            return []
        if getattr(restorer, "encoder", None) is None:
            return []
        specialists = getattr(restorer, "specialists", None) or {}
        return [kind for kind in TYPES if kind in specialists]

    def default_ensemble(self, model: str | None = None) -> str:
        """The self-ensemble ``model`` restores with by default (:attr:`core.Restorer.default_ensemble`;
        "none" when it cannot be loaded)."""
        try:
            restorer = self.get(model)
        except (ModelUnavailableError, ValueError):
            return "none"
        return getattr(restorer, "default_ensemble", "none")

    def status(self, model: str | None = None) -> str:
        """Markdown line for the page header: what is loaded and what a restore costs, or why
        nothing is."""
        try:
            restorer = self.get(model)
        except (ModelUnavailableError, ValueError) as exc:
            return f"> ⚠️ **Restoration weights are not available.** {exc}"
        line = f"Model ready: {self.notes[check_choice(self.config, model)]}."
        cost = restorer.estimate_seconds(512, 512) if isinstance(restorer, core.Restorer) else None
        if cost is not None:
            line += f" A 512×512 photo takes about {cost:.1f} s here"
            limit = restorer.untiled_limit
            if limit < core.restorer.AUTO_TILE_PIXELS:
                line += f"; above {limit / 1e6:.2f} MP it restores in tiles to stay within {self.config.memory_budget_gb:g} GB"
            line += "."
        return line
