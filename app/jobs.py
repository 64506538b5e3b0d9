"""The line of work waiting for the model thread: positions, estimates and cancelling.

Every restore (and every other pass of the network the page asks for) is a :class:`Job` put in
the :class:`Line`, which runs jobs one at a time on the model thread (:meth:`ModelHolder.submit`)
in the order they came. A page that waits reads its place and an estimate from the line
(:meth:`Line.ahead`). A job stops at its next cancel point, the next tile or unfolding stage
(:func:`cancel_points`, on every network the restore may run), when

* the user presses Cancel (:meth:`Line.cancel_session`),
* the tab is closed (gradio's unload event, which also calls :meth:`Line.cancel_session`),
* or nobody reads its stream any more: the page's handler marks the job as seen every time it is
  resumed (:meth:`Job.seen`); a job unseen for ``stale_after`` seconds was abandoned (a client
  that went away without gradio noticing) and stops too.

A job cancelled before it started is dropped when its turn comes, so it frees the line at once.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field


class Cancelled(Exception):
    """The job was cancelled; the message says why ("cancelled", "the page was closed", ...)."""


@dataclass
class Job:
    """One piece of work for the model thread.

    session: the gradio session that asked for it (None: unknown, e.g. a plain function call).
    estimate: expected seconds of model time (None: unknown), for the estimates of those behind it.
    stale_after: seconds without :meth:`seen` after which the job counts as abandoned (None: never).
    """

    session: str | None = None
    estimate: float | None = None
    stale_after: float | None = None
    label: str = "restore"
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: bool = False
    progress: str = ""
    reason: str = ""
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _seen: float = field(default_factory=time.monotonic, repr=False)

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._cancel.is_set():
            self.reason = reason
            self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def seen(self) -> None:
        """The page still reads this job's stream."""
        self._seen = time.monotonic()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled or abandoned (a cancel point)."""
        if self.stale_after is not None and time.monotonic() - self._seen > self.stale_after:
            self.cancel("nobody was waiting for it any more (the page went away)")
        if self._cancel.is_set():
            raise Cancelled(self.reason)

    def remaining(self, now: float | None = None) -> float:
        """Seconds of model time this job still needs, by its estimate (0 when unknown)."""
        if self.estimate is None:
            return 0.0
        if self.started is None:
            return self.estimate
        return max(0.0, self.estimate - ((now or time.monotonic()) - self.started))


class Line:
    """Jobs for one model thread, in order; thread-safe."""

    def __init__(self, submit: Callable[..., Future]):
        """``submit(fn, *args)`` runs ``fn`` on the model thread (:meth:`app.state.ModelHolder.submit`)."""
        self._submit = submit
        self._lock = threading.Lock()
        self._jobs: list[Job] = []

    def submit(self, job: Job, fn: Callable, *args, **kwargs) -> Future:
        """Queue ``fn(*args, **kwargs)`` for ``job``; when its turn comes a cancelled job is dropped
        (the future raises :class:`Cancelled`) without running ``fn``."""
        with self._lock:
            self._jobs.append(job)

        def run():
            try:
                job.check()
                job.started = time.monotonic()
                return fn(*args, **kwargs)
            finally:
                job.finished = True
                with self._lock:
                    self._jobs.remove(job)
        return self._submit(run)

    def ahead(self, job: Job) -> tuple[int, float | None]:
        """(jobs ahead of ``job`` still to finish, their estimated seconds; None when one is unknown)."""
        now = time.monotonic()
        with self._lock:
            before = self._jobs[:self._jobs.index(job)] if job in self._jobs else []
        if any(j.estimate is None for j in before):
            return len(before), None
        return len(before), sum(j.remaining(now) for j in before)

    def running(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs if j.started is not None and not j.finished), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def cancel_session(self, session: str | None, reason: str = "cancelled") -> int:
        """Cancel every job of ``session``; returns how many there were."""
        if not session:
            return 0
        with self._lock:
            mine = [j for j in self._jobs if j.session == session]
        for job in mine:
            job.cancel(reason)
        return len(mine)


def networks_of(restorer) -> list:
    """Every network a restore of ``restorer`` may run: its all-in-one network and its one-by-one
    specialists (:mod:`core.one_by_one`; which one runs is decided inside ``Restorer.restore``)."""
    return [restorer.network, *getattr(restorer, "specialists", {}).values()]


@contextlib.contextmanager
def cancel_points(networks, job: Job | None) -> Iterator[None]:
    """While inside, each unfolding stage of ``networks`` (a network, or a list such as
    :func:`networks_of`) first checks ``job`` (:meth:`Job.check`): a cancelled job stops before its
    next stage, within a tile as between tiles. Uses forward pre-hooks, so the networks themselves
    are untouched."""
    networks = networks if isinstance(networks, (list, tuple)) else [networks]
    stages = [stage for network in networks for stage in getattr(network, "stages", []) or []] \
        if job is not None else []

    def check(_module, _inputs):
        job.check()
    handles = [stage.register_forward_pre_hook(check) for stage in stages]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
