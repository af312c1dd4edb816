"""Request limits: how many queries stream at once, and how large a request may be.

gRPC as pyarrow configures it accepts messages of any size and pyarrow exposes no
option for it, so sizes are checked here, before anything is parsed or planned.
"""

from __future__ import annotations

import threading
import weakref

from flight_server.engine import ErrorKind, QueryError


class QuerySlot:
    """One running query's place; released when closed or when dropped unclosed."""

    def __init__(self, semaphore: threading.Semaphore) -> None:
        self._release = weakref.finalize(self, semaphore.release)

    def release(self) -> None:
        self._release()  # a finalizer runs at most once


class QuerySlots:
    """At most ``limit`` queries at once; others wait up to ``queue_seconds``, then fail."""

    def __init__(self, limit: int, queue_seconds: float) -> None:
        self._limit = limit
        self._queue_seconds = queue_seconds
        self._semaphore = threading.Semaphore(limit)

    def acquire(self) -> QuerySlot:
        if not self._semaphore.acquire(timeout=self._queue_seconds):
            raise QueryError(
                ErrorKind.BUSY,
                f"server busy: {self._limit} queries are running; try again later",
            )
        return QuerySlot(self._semaphore)


def check_size(what: str, size: int, limit: int) -> None:
    """Refuse a request part of ``size`` bytes over ``limit``; the message names sizes only."""
    if size > limit:
        raise QueryError(ErrorKind.INVALID, f"{what} is {size} bytes; the limit is {limit}")
