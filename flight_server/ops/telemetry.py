"""What the server measures (calls, queries, streams) and the one log line per query."""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import TYPE_CHECKING, cast

from prometheus_client import Counter, Histogram
from prometheus_client.registry import Collector

from flight_server.ops.calls import ANONYMOUS, current_call
from flight_server.ops.streams import QueryRecord, WatchedExecution, sql_digest
from flight_server.ops.tracing import start_tracing

if TYPE_CHECKING:
    from flight_server.engine.execution import Execution
    from flight_server.ops.spans import Span

query_log = logging.getLogger("flight_server.queries")

# Seconds: interactive queries sit low, long exports run to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Telemetry:
    """The server's metrics and traces, fed by the call middleware and the queries.

    The metrics belong to no registry: the ops port registers them in its own.
    """

    def __init__(self) -> None:
        self.calls = Counter(
            "fw_flight_sql_calls_total",
            "Flight RPCs by method and gRPC status.",
            ("method", "status"),
            registry=None,
        )
        self.call_seconds = Histogram(
            "fw_flight_sql_call_duration_seconds",
            "Flight RPC latency by method (a DoGet lasts until its stream ends).",
            ("method",),
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.queries = Counter(
            "fw_flight_sql_queries_total",
            "Queries by outcome: ok, error or cancelled.",
            ("status",),
            registry=None,
        )
        self.query_seconds = Histogram(
            "fw_flight_sql_query_duration_seconds",
            "Time from the start of a query to the end of its result stream.",
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.rows = Counter(
            "fw_flight_sql_rows_streamed_total", "Rows sent in query results.", registry=None
        )
        self.bytes = Counter(
            "fw_flight_sql_bytes_streamed_total",
            "Arrow buffer bytes sent in query results.",
            registry=None,
        )
        # Each label set's child, found once: ``labels`` locks and validates on every call,
        # and every RPC counts itself. The label values are few (methods, statuses).
        self._call_count = functools.cache(self.calls.labels)
        self._call_time = functools.cache(self.call_seconds.labels)
        self._query_count = functools.cache(self.queries.labels)
        #: Spans for calls and queries; None when tracing is off (then nothing is traced).
        self.tracing = start_tracing()
        self._lock = threading.Lock()
        self._running: set[WatchedExecution] = set()

    @property
    def metrics(self) -> tuple[Collector, ...]:
        """What the ops port scrapes from here."""
        return (
            self.calls,
            self.call_seconds,
            self.queries,
            self.query_seconds,
            self.rows,
            self.bytes,
        )

    @property
    def active_streams(self) -> int:
        """Queries started and not yet ended."""
        return len(self._running)

    def record_call(self, method: str, status: str, seconds: float) -> None:
        """Count one finished RPC."""
        self._call_count(method, status).inc()
        self._call_time(method).observe(seconds)

    def watch(self, sql: str, execution: Execution) -> Execution:
        """``execution``, counted batch by batch and logged when it ends (the engine's hook)."""
        call = current_call()
        record = QueryRecord(
            query_id=call.query_id if call else "-",
            user=call.user if call else ANONYMOUS,
            digest=sql_digest(sql),
            started=time.perf_counter(),
        )
        span = None
        if self.tracing is not None:
            span = self.tracing.start_query(call.span if call else None, record)
        watched = WatchedExecution(
            execution, record, self._count, lambda ended: self._ended(ended, span)
        )
        with self._lock:
            self._running.add(watched)
        # A stand-in with the same interface, not a subclass: the engine's Execution owns
        # a cursor, the wrapper only forwards to it.
        return cast("Execution", watched)

    def cancel_streams(self) -> int:
        """Interrupt every running query (shutdown past its grace period); how many there were."""
        with self._lock:
            running = list(self._running)
        for execution in running:
            execution.interrupt()
        return len(running)

    def _count(self, rows: int, size: int) -> None:
        self.rows.inc(rows)
        self.bytes.inc(size)

    def _ended(self, execution: WatchedExecution, span: Span | None) -> None:
        with self._lock:
            self._running.discard(execution)
        record = execution.record
        seconds = record.seconds
        self._query_count(record.status).inc()
        self.query_seconds.observe(seconds)
        if self.tracing is not None and span is not None:
            self.tracing.end_query(span, record)
        fields = {
            "query_id": record.query_id,
            "user": record.user,
            "sql_digest": record.digest,
            "status": record.status,
            "duration_ms": round(seconds * 1000, 1),
            "rows": record.rows,
            "bytes": record.bytes,
        }
        if record.error:
            fields["error"] = record.error
        query_log.info("query %s", record.status, extra=fields)
