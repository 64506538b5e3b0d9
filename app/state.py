"""The restorer, loaded once and lazily (thread-safe), what went wrong if it could not be, and the
stage traces waiting to be drawn (a bounded number)."""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
import uuid
from collections import OrderedDict
from typing import Callable

import core
from core.encoder import BackboneUnavailableError, DegradationEncoder, EncoderAssetMissingError

from .config import AppConfig


def _libc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_MALLOC_TRIM = _libc_trim()


def release_freed_memory() -> None:
    """Hand the memory freed by a restore back to the system (glibc ``malloc_trim``).

    Restores run on whichever worker thread gradio picks, and glibc gives each thread its own
    heap ("arena"); without trimming, every arena keeps the peak of the restores it served, and
    the process grows with the number of worker threads (measured: 16 concurrent clients of
    512x512 images, +1.9 GB without, see benchmarks/load_app.py). A no-op off glibc.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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


class TraceShelf:
    """Raw stage traces of recent restores waiting for the Unfolding view, ``capacity`` at most.

    A restore's full-resolution trace weighs hundreds of MB at a megapixel; the browser draws it
    right away (the Unfolding event chained after the restore), but an API client never asks for
    it, so a trace kept in every session would let memory grow with the number of sessions. Here
    the oldest trace beyond ``capacity`` is let go; its session is told to restore again.
    """

    def __init__(self, capacity: int):
        self.capacity = max(int(capacity), 0)
        self._lock = threading.Lock()
        self._items: OrderedDict[str, list] = OrderedDict()

    def put(self, trace: list) -> str:
        """Keep ``trace``; returns the key to :meth:`take` it with."""
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = trace
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def take(self, key: str | None) -> list | None:
        """The trace stored under ``key`` (removed from the shelf), or None if it was let go."""
        with self._lock:
            return self._items.pop(key, None) if key else None

    def __len__(self) -> int:
        return len(self._items)


class ModelHolder:
    """Builds the restorer on first use, once, under a lock; a failure is retried on the next call
    (weights that land while the studio runs are picked up). ``traces`` shelves the restores'
    stage traces until they are drawn (``config.pending_traces`` at most)."""

    def __init__(self, config: AppConfig,
                 factory: Callable[[AppConfig], core.Restorer | tuple[core.Restorer, str]] | None = None):
        self.config = config
        self.factory = factory or default_factory
        self._lock = threading.Lock()
        self._restorer: core.Restorer | None = None
        self.note = ""
        self.load_seconds = 0.0
        self.traces = TraceShelf(config.pending_traces)

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

    def status(self) -> str:
        """Markdown line for the page header: what is loaded, or why nothing is."""
        try:
            self.get()
        except ModelUnavailableError as exc:
            return f"> ⚠️ **Restoration weights are not available.** {exc}"
        return f"Model ready: {self.note}."
