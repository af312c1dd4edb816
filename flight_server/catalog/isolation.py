"""One boundary per unit of loading: whatever goes wrong inside becomes a skip with a reason.

A Flywheel site always has broken projects, files and stores. Catching a hand-picked list
of exception types let every type nobody thought of stop the whole server, so each unit
(a project, a configured or federated dataset, a version, a table, a file footer) runs
behind :func:`isolated`, which turns *any* exception into a :class:`Skip`: logged,
counted, and listed, never seen by the unit's siblings. :func:`run_units` adds a deadline
per unit, so a slow one is skipped as timed out instead of holding up the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flight_server.messages import first_line
from flight_server.storage.secrets import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Units loaded at once: loading is mostly waiting on storage listings and the Flywheel API.
LOAD_CONCURRENCY = 8
#: Units loaded at once when all of them read local disks: then loading is Python work
#: holding the GIL, and threads beyond the cores only queue for it (2,000 local datasets
#: took 2.0-2.6 s with 1 thread, 2.2-2.8 s with 2 and 4.9-5.0 s with 8, docs/performance.md).
#: Two, not one, so that one hung mount does not hold up the rest until its deadline.
LOCAL_LOAD_CONCURRENCY = 2


@dataclass(frozen=True)
class Skip:
    """A unit that was left out, and why (redacted: no credentials)."""

    reason: str


class SkipCounts:
    """Units skipped since start-up, by kind (``project``, ``table``...), for metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


SKIPS = SkipCounts()


def isolated(kind: str, unit: str, work: Callable[[], T]) -> T | Skip:
    """``work()``, or a :class:`Skip` saying why it raised (any ``Exception``)."""
    try:
        return work()
    except Exception as exc:  # the boundary: any failure of one unit stays in that unit
        return skip(kind, unit, describe(exc))


def skip(kind: str, unit: str, reason: str) -> Skip:
    """Log and count one skipped unit."""
    reason = redact(reason)
    log.warning("skipping %s %s: %s", kind, redact(unit), reason)
    SKIPS.add(kind)
    return Skip(reason)


def describe(exc: BaseException) -> str:
    """One line about a failure: our own errors speak for themselves, others name their type."""
    message = first_line(exc)
    if type(exc).__module__.startswith("flight_server.") or message == type(exc).__name__:
        return redact(message)
    return redact(f"{type(exc).__name__}: {message}")


def run_units(
    kind: str,
    units: Sequence[tuple[str, Callable[[], T]]],
    *,
    concurrency: int,
    timeout: float,
) -> list[T | Skip]:
    """Run named units, ``concurrency`` at a time, each behind the boundary and a deadline.

    A unit's clock starts when it starts. One past ``timeout`` seconds is skipped as timed
    out and its slot goes to a new worker; its thread is left to finish on its own (every
    storage and Flywheel call has its own timeout) and its result is dropped. Workers take
    units one after another: a thread per unit, and waking the caller at each unit's end,
    cost more than a small unit itself (2,000 local datasets).
    """
    return _Units(kind, units, timeout).run(concurrency)


class _Units(Generic[T]):
    """The state ``run_units`` shares between its workers and its caller, under one lock."""

    def __init__(
        self, kind: str, units: Sequence[tuple[str, Callable[[], T]]], timeout: float
    ) -> None:
        self._kind, self._units, self._timeout = kind, units, timeout
        self._results: dict[int, T | Skip] = {}
        self._running: dict[int, float] = {}  # unit -> when it started
        self._next = 0
        self._ended = threading.Condition(threading.Lock())

    def run(self, concurrency: int) -> list[T | Skip]:
        for _ in range(min(concurrency, len(self._units))):
            self._start_worker()
        with self._ended:
            while len(self._results) < len(self._units):
                now = time.monotonic()
                for index, started in list(self._running.items()):
                    if now - started >= self._timeout:
                        del self._running[index]
                        name = self._units[index][0]
                        reason = f"timed out after {self._timeout:g} s"
                        self._results[index] = skip(self._kind, name, reason)
                        self._start_worker()  # the slot, while the hung thread finishes
                # Never unbounded: a worker between two units is running none for a moment.
                first = min(self._running.values(), default=now)
                self._ended.wait(first + self._timeout - now)
        return [self._results[index] for index in range(len(self._units))]

    def _start_worker(self) -> None:
        """A daemon thread taking units until none is left, so a hung one never blocks exit."""
        threading.Thread(target=self._work, name=f"load-{self._kind}", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._ended:
                index = self._next
                if index >= len(self._units):
                    return
                self._next += 1
                self._running[index] = time.monotonic()
            name, work = self._units[index]
            result = isolated(self._kind, name, work)
            with self._ended:
                if index not in self._running:
                    return  # timed out: a new worker has its slot, and its result is dropped
                del self._running[index]
                self._results[index] = result
                if len(self._results) == len(self._units):
                    self._ended.notify()
