"""What the server measures (calls, queries, streams) and the one log line per query."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, cast

import pyarrow as pa

from flight_server.ops.calls import ANONYMOUS, current_call
from flight_server.ops.prometheus import Counter, Histogram
from flight_server.ops.streams import QueryRecord, WatchedExecution, sql_digest

if TYPE_CHECKING:
    from flight_server.engine.execution import Execution

query_log = logging.getLogger("flight_server.queries")

# Seconds: interactive queries sit low, long exports run to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Telemetry:
    """The server's metrics, shared by the call middleware, the queries and the ops port."""

    def __init__(self) -> None:
        self.calls = Counter(
            "fw_flight_sql_calls_total",
            "Flight RPCs by method and gRPC status.",
            ("method", "status"),
        )
        self.call_seconds = Histogram(
            "fw_flight_sql_call_duration_seconds",
            "Flight RPC latency by method (a DoGet lasts until its stream ends).",
            LATENCY_BUCKETS,
            ("method",),
        )
        self.queries = Counter(
            "fw_flight_sql_queries_total",
            "Queries by outcome: ok, error or cancelled.",
            ("status",),
        )
        self.query_seconds = Histogram(
            "fw_flight_sql_query_duration_seconds",
            "Time from the start of a query to the end of its result stream.",
            LATENCY_BUCKETS,
        )
        self.rows = Counter("fw_flight_sql_rows_streamed_total", "Rows sent in query results.")
        self.bytes = Counter(
            "fw_flight_sql_bytes_streamed_total", "Arrow buffer bytes sent in query results."
        )
        self._lock = threading.Lock()
        self._running: set[WatchedExecution] = set()

    @property
    def active_streams(self) -> int:
        """Queries started and not yet ended."""
        return len(self._running)

    def record_call(self, method: str, status: str, seconds: float) -> None:
        """Count one finished RPC."""
        self.calls.inc(method, status)
        self.call_seconds.observe(seconds, method)

    def watch(self, sql: str, execution: Execution) -> Execution:
        """``execution``, counted batch by batch and logged when it ends (the engine's hook)."""
        call = current_call()
        record = QueryRecord(
            query_id=call.query_id if call else "-",
            user=call.user if call else ANONYMOUS,
            digest=sql_digest(sql),
            started=time.perf_counter(),
        )
        watched = WatchedExecution(execution, record, self._count, self._ended)
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

    def _count(self, batch: pa.RecordBatch) -> None:
        self.rows.inc(amount=batch.num_rows)
        self.bytes.inc(amount=batch.nbytes)

    def _ended(self, execution: WatchedExecution) -> None:
        with self._lock:
            self._running.discard(execution)
        record = execution.record
        seconds = record.seconds
        self.queries.inc(record.status)
        self.query_seconds.observe(seconds)
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
