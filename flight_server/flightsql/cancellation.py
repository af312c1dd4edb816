"""Stopping running queries: by ticket (CancelFlightInfo) or when the client goes away.

DuckDB blocks inside a pull (a whole aggregation may run before the first batch), so
pulls run on a bounded pool while the RPC thread waits and watches its own call: the
moment the client cancels the call, or CancelFlightInfo names its ticket, the cursor is
interrupted. The call context is only touched from the RPC's own thread while it runs.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import ErrorKind, Execution, QueryError

_T = TypeVar("_T")
_POLL_SECONDS = 0.05
_UNWIND_SECONDS = 10.0


class RunningQueries:
    """Which executions serve which ticket; entries vanish when their execution is dropped.

    Bounded: past ``limit`` tracked executions new ones still run but cannot be cancelled
    by ticket (call cancellation still stops them).
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._by_execution: weakref.WeakKeyDictionary[Execution, bytes] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def track(self, ticket: bytes, execution: Execution) -> None:
        with self._lock:
            if len(self._by_execution) < self._limit:
                self._by_execution[execution] = _digest(ticket)

    def cancel(self, tickets: list[bytes]) -> int:
        """Interrupt every execution serving one of ``tickets``; return how many."""
        wanted = {_digest(t) for t in tickets}
        with self._lock:
            matches = [e for e, d in list(self._by_execution.items()) if d in wanted and e.running]
        for execution in matches:
            execution.interrupt()
        return len(matches)


class Puller:
    """Runs an execution's blocking calls on a bounded pool, stopping them on call cancel."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="query")

    def call(
        self,
        context: flight.ServerCallContext,
        execution: Execution,
        step: Callable[[], _T],
    ) -> _T:
        future = self._pool.submit(step)
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                if context.is_cancelled():
                    execution.interrupt()
                    # Let the pull unwind before the caller closes the cursor under it.
                    wait([future], timeout=_UNWIND_SECONDS)
                    raise QueryError(ErrorKind.CANCELLED, "the client cancelled the call") from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def tickets_of(serialized_info: bytes) -> list[bytes]:
    """The tickets of a serialized FlightInfo, as CancelFlightInfo and CancelQuery carry it."""
    try:
        info = flight.FlightInfo.deserialize(serialized_info)
    except (pa.ArrowInvalid, TypeError, ValueError):
        raise pa.ArrowInvalid("CancelFlightInfo: malformed FlightInfo") from None
    return [endpoint.ticket.ticket for endpoint in info.endpoints]


def _digest(ticket: bytes) -> bytes:
    return hashlib.sha256(ticket).digest()
