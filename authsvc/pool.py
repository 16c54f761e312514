"""The process pool for CPU-heavy work, renewed when a worker dies.

CPython marks a `ProcessPoolExecutor` broken for good once one of its workers dies abruptly (killed, out of
memory, a crash in native code): every later submission fails. `RenewingPool` keeps one pool behind a stable
object, so the components holding it (the EDS verifier, the photo and face checks, liveness) need no restart:
the first submission after the breakage builds a fresh pool from the same factory, counts it in
``authsvc_process_pool_renewals_total`` and lets the broken one go. The work that was on the dead pool has
already failed with `BrokenProcessPool` (its requests answered as errors); nothing is retried silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from prometheus_client import Counter

from authsvc.metrics import REGISTRY

log = logging.getLogger("authsvc.pool")
P = ParamSpec("P")
T = TypeVar("T")

RENEWALS = Counter(
    "authsvc_process_pool_renewals_total",
    "Process pools rebuilt because a worker of the previous one died",
    registry=REGISTRY,
)


class RenewingPool(Executor):
    def __init__(self, factory: Callable[[], ProcessPoolExecutor]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._pool = factory()
        self._closed = False

    @property
    def broken(self) -> str | bool:
        """Why the current pool is broken (until the next submission renews it), else False."""
        reason: str | bool = getattr(self._pool, "_broken", False)
        return reason

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        pool = self._current()
        try:
            return pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:  # broke between the check and the submission: once more on a new one
            return self._current(broken=pool).submit(fn, *args, **kwargs)

    def _current(self, broken: ProcessPoolExecutor | None = None) -> ProcessPoolExecutor:
        with self._lock:
            if not self._closed and (self._pool is broken or getattr(self._pool, "_broken", False)):
                old, self._pool = self._pool, self._factory()
                RENEWALS.inc()
                log.warning("process pool renewed", extra={"reason": str(getattr(old, "_broken", "broken"))})
                old.shutdown(wait=False, cancel_futures=True)  # its dead worker's siblings exit on their own
            return self._pool

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pool = self._pool
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)
