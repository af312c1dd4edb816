"""Stopping running queries: by ticket (CancelFlightInfo) or when the client goes away.

DuckDB blocks inside a pull (a whole aggregation may run before the first batch), so
pulls run on a bounded pool while the RPC thread waits and watches its own call: the
moment the client cancels the call, or CancelFlightInfo names its ticket, the cursor is
interrupted. The call context is only touched from the RPC's own thread while it runs.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import ErrorKind, Execution, QueryError

_T = TypeVar("_T")
_POLL_SECONDS = 0.05
_UNWIND_SECONDS = 10.0
_PAST_DEADLINE = "the query ran past its time limit and was stopped"


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
        deadline: float | None = None,
    ) -> _T:
        """Run ``step``, interrupted on call cancellation or past ``deadline`` (monotonic)."""
        return self._wait(context, execution, self._pool.submit(step), deadline)

    def batches(
        self,
        context: flight.ServerCallContext,
        execution: Execution,
        deadline: float | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The execution's batches, each pulled on the pool while the one before is sent.

        Reading one batch ahead overlaps DuckDB's work with Flight's serialisation and the
        network; memory grows by one batch per stream, and no pool thread ever waits on a
        slow client.
        """
        pending = self._pool.submit(execution.next_batch)
        try:
            while (batch := self._wait(context, execution, pending, deadline)) is not None:
                pending = self._pool.submit(execution.next_batch)
                yield batch
        finally:
            if not pending.done():  # the stream was dropped while a pull was running
                self._stop(execution, pending)

    def _wait(
        self,
        context: flight.ServerCallContext,
        execution: Execution,
        future: Future[_T],
        deadline: float | None,
    ) -> _T:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                # Checked before every wait: a fast stream never blocks long enough otherwise.
                self._stop(execution, future)
                raise QueryError(ErrorKind.TIMEOUT, _PAST_DEADLINE) from None
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                if context.is_cancelled():
                    self._stop(execution, future)
                    raise QueryError(ErrorKind.CANCELLED, "the client cancelled the call") from None

    @staticmethod
    def _stop(execution: Execution, future: Future) -> None:
        execution.interrupt()
        # Let the pull unwind before the caller closes the cursor under it.
        wait([future], timeout=_UNWIND_SECONDS)

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
