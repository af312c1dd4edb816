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
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import TypeVar

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
    out and its slot goes to the next unit; its thread is left to finish on its own (every
    storage and Flywheel call has its own timeout) and its result is dropped.
    """
    results: dict[int, T | Skip] = {}
    waiting = list(enumerate(units))
    waiting.reverse()
    running: dict[Future[T | Skip], tuple[int, str, float]] = {}
    while waiting or running:
        while waiting and len(running) < concurrency:
            index, (name, work) = waiting.pop()
            future = _start(kind, name, work)
            running[future] = (index, name, time.monotonic())
        first_deadline = min(started for _, _, started in running.values()) + timeout
        done, _ = wait(
            list(running),
            timeout=max(0.0, first_deadline - time.monotonic()),
            return_when=FIRST_COMPLETED,
        )
        for future in done:
            index, _name, _started = running.pop(future)
            results[index] = future.result()
        now = time.monotonic()
        for future, (index, name, started) in list(running.items()):
            if now - started >= timeout:
                del running[future]
                results[index] = skip(kind, name, f"timed out after {timeout:g} s")
    return [results[index] for index in range(len(units))]


def _start(kind: str, name: str, work: Callable[[], T]) -> Future[T | Skip]:
    """``isolated(work)`` in a daemon thread of its own, so a hung unit never blocks exit."""
    future: Future[T | Skip] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            future.set_result(isolated(kind, name, work))

    threading.Thread(target=run, name=f"load-{kind}", daemon=True).start()
    return future
