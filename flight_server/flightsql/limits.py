"""Request limits: how many queries run at once, per server and per caller, and how large a
request may be.

gRPC as pyarrow configures it accepts messages of any size and pyarrow exposes no
option for it, so sizes are checked here, before anything is parsed or planned.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import Counter

from flight_server.engine import ErrorKind, QueryError


class QuerySlot:
    """One running query's place; released when closed or when dropped unclosed."""

    def __init__(self, slots: QuerySlots, caller: str) -> None:
        self._release = weakref.finalize(self, slots._release, caller)

    def release(self) -> None:
        self._release()  # a finalizer runs at most once


class QuerySlots:
    """At most ``limit`` queries at once, and at most ``per_caller`` of them one caller's.

    Others wait up to ``queue_seconds``, then fail. A caller at their own cap waits while
    other callers still take the free slots, so one user holding many queries cannot keep
    everyone else out.
    """

    def __init__(self, limit: int, queue_seconds: float, per_caller: int | None = None) -> None:
        self._limit = limit
        self._per_caller = min(per_caller or max(1, limit // 2), limit)
        self._queue_seconds = queue_seconds
        self._held: Counter[str] = Counter()
        self._free = threading.Condition()

    def acquire(self, caller: str) -> QuerySlot:
        deadline = time.monotonic() + self._queue_seconds
        with self._free:
            while not self._available(caller):
                left = deadline - time.monotonic()
                if left <= 0 or not self._free.wait(left):
                    if self._available(caller):
                        break
                    raise self._busy(caller)
            self._held[caller] += 1
        return QuerySlot(self, caller)

    def _available(self, caller: str) -> bool:
        return self._held.total() < self._limit and self._held[caller] < self._per_caller

    def _busy(self, caller: str) -> QueryError:
        if self._held[caller] >= self._per_caller:
            return QueryError(
                ErrorKind.BUSY,
                f"server busy: you have {self._per_caller} queries running, the most one"
                " caller may; try again later",
            )
        return QueryError(
            ErrorKind.BUSY, f"server busy: {self._limit} queries are running; try again later"
        )

    def _release(self, caller: str) -> None:
        with self._free:
            self._held[caller] -= 1
            if not self._held[caller]:
                del self._held[caller]
            # Waiters of several callers may be eligible now; each checks for itself.
            self._free.notify_all()


def check_size(what: str, size: int, limit: int) -> None:
    """Refuse a request part of ``size`` bytes over ``limit``; the message names sizes only."""
    if size > limit:
        raise QueryError(ErrorKind.INVALID, f"{what} is {size} bytes; the limit is {limit}")
