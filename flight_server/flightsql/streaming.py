"""Running a call's queries within the server's limits, and streaming their results.

Every query, and every plan that is not cached, takes one of the server's query slots
(waiting in line for one if all are taken), must finish within the query time limit and
under the memory ceiling, and stops when its client goes away or CancelFlightInfo names
its ticket (how it stops: ``cancellation``).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.config import LimitsSettings
from flight_server.engine import Execution, Plan, QueryError
from flight_server.flightsql import limits, memory_guard
from flight_server.flightsql.cancellation import Puller, Query, RunningQueries
from flight_server.flightsql.drain import Drain
from flight_server.flightsql.plans import CursorWatch, Runner
from flight_server.flightsql.status import to_flight_error


class QueryStreams:
    """The server's query slots, pull pool and running queries."""

    def __init__(self, settings: LimitsSettings, drain: Drain) -> None:
        self._slots = limits.QuerySlots(
            settings.max_concurrent_queries, settings.queue_seconds, settings.max_queries_per_user
        )
        self._timeout = settings.query_timeout_seconds
        self._running = RunningQueries()
        self._drain = drain
        self._puller = Puller(
            settings.query_threads, memory_guard.ceiling_of(settings.max_memory_bytes)
        )

    def stream(
        self, context: flight.ServerCallContext, ticket: bytes, caller: str, execution: Execution
    ) -> flight.FlightDataStream:
        """Stream an execution, cancellable by ticket and by the client dropping the call.

        The time limit counts from here, including the wait for a slot.
        """
        try:
            query = self._query(caller, execution)
        except BaseException:
            execution.close()
            raise
        self._running.track(ticket, execution)
        try:
            schema, pulled = self._puller.stream(context, query)
        except BaseException:
            query.close()
            raise
        batches = self._batches(pulled, query)
        # pyarrow drops the stream unstarted when the client left before the schema was
        # sent, and an unstarted generator runs no ``finally``: close it on collection too.
        weakref.finalize(batches, query.close)
        return flight.GeneratorStream(schema, self._drain.lingering(context, batches))

    def planner(self, context: flight.ServerCallContext, caller: str) -> Runner:
        """Plans as queries run: in one of the caller's slots, within the time limit, and
        interrupted on the client's cancel (the slot is kept until the bind has unwound)."""

        def run(plan: Callable[[CursorWatch], Plan]) -> Plan:
            query = self._query(caller)
            try:
                return self._puller.call(context, query, lambda: plan(query.watch))
            finally:
                query.close()

        return run

    def cancel(self, tickets: list[bytes]) -> int:
        """Interrupt the running queries serving ``tickets``; return how many."""
        return self._running.cancel(tickets)

    def shutdown(self) -> None:
        self._puller.shutdown()

    def _batches(self, pulled: Iterator[pa.RecordBatch], query: Query) -> Iterator[pa.RecordBatch]:
        try:
            yield from pulled
        except QueryError as exc:
            raise to_flight_error(exc) from None
        finally:
            query.close()

    def _query(self, caller: str, execution: Execution | None = None) -> Query:
        """A query slot for ``caller`` (waiting in line for one) and the deadline from now."""
        slot = self._slots.acquire(caller)
        deadline = time.monotonic() + self._timeout if self._timeout is not None else None
        return Query(slot, deadline, execution)
