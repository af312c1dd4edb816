"""Stopping running queries: by ticket (CancelFlightInfo), when the client goes away, past
the time limit or the memory ceiling.

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
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import ErrorKind, Execution, QueryError
from flight_server.flightsql import commands
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.limits import QuerySlot
from flight_server.flightsql.memory_guard import MemoryCeiling

_T = TypeVar("_T")
_POLL_SECONDS = 0.05
_PAST_DEADLINE = "the query ran past its time limit and was stopped"
#: Interrupts the running queries serving some tickets (refusing others' tickets); how many.
Canceller = Callable[[list[bytes]], int]


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


class Query:
    """What one query holds while it runs: its execution (none while planning), its slot
    and its deadline.

    Closing it closes the execution and frees the slot only once no pull of it is still
    inside DuckDB: a timed-out or cancelled query may take a while to unwind, and until
    it has, its cursor is busy and it still uses its share of the server.
    """

    def __init__(
        self, slot: QuerySlot, deadline: float | None, execution: Execution | None = None
    ) -> None:
        self.execution = execution
        self.deadline = deadline
        self._slot = slot
        self._cursor: duckdb.DuckDBPyConnection | None = None  # while planning
        self._pending: Future | None = None
        self._open = True
        self._lock = threading.Lock()

    def pulling(self, future: Future) -> None:
        """``future`` is the query's call into DuckDB now (each waits for the one before)."""
        self._pending = future

    def watch(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Planning runs on ``cursor``: an interrupt stops it there."""
        self._cursor = cursor

    def interrupt(self) -> None:
        if self.execution is not None:
            self.execution.interrupt()
        elif self._cursor is not None:
            self._cursor.interrupt()

    def close(self) -> None:
        pending = self._pending
        if pending is not None and not pending.done():
            self.interrupt()  # the stream was dropped while a pull was running
            pending.add_done_callback(lambda _future: self._finish())
        else:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        try:
            if self.execution is not None:
                self.execution.close()
        finally:
            self._slot.release()


class Puller:
    """Runs a query's blocking calls on a bounded pool, stopping them on call cancel, past
    the deadline and when the server is over its memory ceiling.

    Stopping interrupts DuckDB and answers the client at once; the pull unwinds in the
    background and the query keeps its slot until it has (``Query.close``).
    """

    def __init__(self, workers: int, memory: MemoryCeiling | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="query")
        self._memory = memory

    def call(self, context: flight.ServerCallContext, query: Query, step: Callable[[], _T]) -> _T:
        """Run ``step`` for ``query``, stopped on call cancellation, deadline or memory."""
        return self._wait(context, query, self._submit(query, step))

    def stream(
        self, context: flight.ServerCallContext, query: Query
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Open the query: its schema, then its batches, each pulled on the pool while the
        one before is sent.

        Opening and the first two pulls run as one task, so a result of one batch costs one
        hand-off to the pool instead of three: on a small query each hand-off wakes a thread
        whose caches have gone cold, which costs more than the pull. Reading one batch ahead
        overlaps DuckDB's work with Flight's serialisation and the network; memory grows by
        one batch per stream, and no pool thread ever waits on a slow client.
        """
        execution = query.execution
        assert execution is not None, "a query streams once it has an execution"
        if execution.in_memory:
            return execution.open(), self._in_place(context, query)
        opened: Future[tuple[pa.Schema, pa.RecordBatch | None]] = Future()
        ahead: Future[pa.RecordBatch | None] = Future()

        def start() -> None:
            try:
                schema = execution.open()
                batch = execution.next_batch()
                opened.set_result((schema, batch))
            except BaseException as exc:
                opened.set_exception(exc)
                return
            if batch is None:
                ahead.set_result(None)
                return
            try:
                ahead.set_result(execution.next_batch())
            except BaseException as exc:
                ahead.set_exception(exc)

        task = self._submit(query, start)
        # A task the pool drops unrun (it is shutting down) would leave both unanswered.
        task.add_done_callback(lambda _task: _cancel_unanswered(opened, ahead))
        schema, first = self._wait(context, query, opened)
        return schema, self._batches(context, query, first, ahead)

    def _batches(
        self,
        context: flight.ServerCallContext,
        query: Query,
        batch: pa.RecordBatch | None,
        ahead: Future[pa.RecordBatch | None],
    ) -> Iterator[pa.RecordBatch]:
        execution = query.execution
        assert execution is not None, "a query streams once it has an execution"
        while batch is not None:
            yield batch
            batch = self._wait(context, query, ahead)
            if batch is not None:
                ahead = self._submit(query, execution.next_batch)

    def _in_place(
        self, context: flight.ServerCallContext, query: Query
    ) -> Iterator[pa.RecordBatch]:
        """The batches of a result held in memory, pulled on the caller's thread: a pull
        never blocks, so a hand-off to the pool would cost more than it, every batch. The
        deadline, memory ceiling and the client's cancel are checked before each one."""
        execution = query.execution
        assert execution is not None, "a query streams once it has an execution"
        while True:
            self._check(query)
            if context.is_cancelled():
                raise _cancelled(query)
            batch = execution.next_batch()
            if batch is None:
                return
            yield batch

    def _submit(self, query: Query, step: Callable[[], _T]) -> Future[_T]:
        future = self._pool.submit(step)
        query.pulling(future)
        return future

    def _wait(self, context: flight.ServerCallContext, query: Query, future: Future[_T]) -> _T:
        while True:
            # Checked before every wait: a fast stream never blocks long enough otherwise.
            self._check(query)
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                if context.is_cancelled():
                    raise _cancelled(query) from None

    def _check(self, query: Query) -> None:
        """Stop ``query`` if it is past its deadline or the server is over its memory ceiling."""
        if query.deadline is not None and time.monotonic() > query.deadline:
            query.interrupt()
            raise QueryError(ErrorKind.TIMEOUT, _PAST_DEADLINE)
        if self._memory is not None and self._memory.exceeded():
            query.interrupt()
            raise QueryError(ErrorKind.RESOURCES, self._memory.message())

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def cancel_flight_info(body: bytes, cancel: Canceller) -> bytes:
    """The CancelFlightInfo action: stop the queries serving a FlightInfo's tickets."""
    request = commands.decode(spb.CancelFlightInfoRequest, body)
    status = (
        spb.CANCEL_STATUS_CANCELLED
        if cancel(_tickets_of(request.info))
        else spb.CANCEL_STATUS_NOT_CANCELLABLE
    )
    return spb.CancelFlightInfoResult(status=status).SerializeToString()


def cancel_query(body: bytes, cancel: Canceller) -> bytes:
    """The deprecated CancelQuery action: CancelFlightInfo with Flight SQL's own messages."""
    request = commands.decode(pb.ActionCancelQueryRequest, body)
    result = pb.ActionCancelQueryResult(
        result=pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
        if cancel(_tickets_of(request.info))
        else pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE
    )
    return commands.pack(result)


def _tickets_of(serialized_info: bytes) -> list[bytes]:
    """The tickets of a serialized FlightInfo, as CancelFlightInfo and CancelQuery carry it."""
    try:
        info = flight.FlightInfo.deserialize(serialized_info)
    except (pa.ArrowInvalid, TypeError, ValueError):
        raise pa.ArrowInvalid("CancelFlightInfo: malformed FlightInfo") from None
    return [endpoint.ticket.ticket for endpoint in info.endpoints]


def _cancelled(query: Query) -> QueryError:
    """Stop ``query``, whose client has gone: the error its stream ends with."""
    query.interrupt()
    return QueryError(ErrorKind.CANCELLED, "the client cancelled the call")


def _cancel_unanswered(*futures: Future) -> None:
    for future in futures:
        if not future.done():
            future.cancel()


def _digest(ticket: bytes) -> bytes:
    return hashlib.sha256(ticket).digest()
