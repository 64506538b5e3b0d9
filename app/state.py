"""The restorer, loaded once and lazily (thread-safe), and what went wrong if it could not be."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import core
from core.encoder import BackboneUnavailableError, DegradationEncoder, EncoderAssetMissingError

from .config import AppConfig


class ModelUnavailableError(RuntimeError):
    """The restoration weights cannot be loaded; the message says how to create them."""


def default_factory(config: AppConfig) -> tuple[core.Restorer, str]:
    """Load the shipped network and encoder; without an encoder, restore with uniform retrieval.

    Returns the restorer and a one-line note about what was loaded.
    """
    network = core.load_model(core.pretrained.resolve_weights(config.model), device=config.device)
    name = config.model or core.pretrained.DEFAULT
    try:
        encoder = DegradationEncoder.from_pretrained(config.encoder, device=config.device)
        note = f"network `{name}`, encoder `{encoder.config.backbone}`"
    except (EncoderAssetMissingError, BackboneUnavailableError) as exc:
        encoder = None
        note = f"network `{name}`, no degradation encoder ({exc}); restoring with uniform retrieval"
    return core.Restorer(network, encoder, device=config.device), note


class ModelHolder:
    """Builds the restorer on first use, once, under a lock; a failure is retried on the next call
    (weights that land while the studio runs are picked up).

    :meth:`submit` runs work on the holder's own thread, always the same one: torch's OpenMP
    threads belong to the thread that calls it, so one long-lived caller keeps one warm team
    instead of starting a new one in whichever server thread takes the request.
    """

    def __init__(self, config: AppConfig,
                 factory: Callable[[AppConfig], core.Restorer | tuple[core.Restorer, str]] | None = None):
        self.config = config
        self.factory = factory or default_factory
        self._lock = threading.Lock()
        self._restorer: core.Restorer | None = None
        self.note = ""
        self.load_seconds = 0.0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlunet-model")

    @property
    def loaded(self) -> bool:
        return self._restorer is not None

    def get(self) -> core.Restorer:
        """The restorer; raises ModelUnavailableError (one line, with the fix) if it cannot load."""
        if self._restorer is not None:
            return self._restorer
        with self._lock:
            if self._restorer is None:
                start = time.perf_counter()
                try:
                    made = self.factory(self.config)
                except (FileNotFoundError, core.CheckpointError) as exc:
                    raise ModelUnavailableError(str(exc)) from None
                restorer, note = made if isinstance(made, tuple) else (made, "custom restorer")
                self.note = note
                self.load_seconds = time.perf_counter() - start
                self._restorer = restorer
        return self._restorer

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on the model thread (one at a time, in order of submission)."""
        return self._worker.submit(fn, *args, **kwargs)

    def status(self) -> str:
        """Markdown line for the page header: what is loaded, or why nothing is."""
        try:
            self.get()
        except ModelUnavailableError as exc:
            return f"> ⚠️ **Restoration weights are not available.** {exc}"
        return f"Model ready: {self.note}."
