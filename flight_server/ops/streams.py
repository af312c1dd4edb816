"""A running query, measured: rows and bytes as batches leave, and one log line at its end.

Wraps the engine's ``Execution`` (the engine calls ``Telemetry.watch`` on every query it
starts), so whatever protocol path pulls the batches, they are counted the same way.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from flight_server.engine import ErrorKind, QueryError

if TYPE_CHECKING:
    from flight_server.engine.execution import Execution


def sql_digest(sql: str) -> str:
    """A short stable fingerprint of a query: logs name queries without their literals."""
    normalized = " ".join(sql.split())
    return hashlib.sha256(normalized.encode()).hexdigest()[:16]


@dataclass
class QueryRecord:
    """What the query log line says about one query."""

    query_id: str
    user: str
    digest: str
    started: float
    rows: int = 0
    bytes: int = 0
    status: str = "running"
    error: str | None = None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


class WatchedExecution:
    """An ``Execution`` that reports each batch and, once, how the query ended."""

    def __init__(
        self,
        inner: Execution,
        record: QueryRecord,
        on_batch: Callable[[int, int], None],
        on_end: Callable[[WatchedExecution], None],
    ) -> None:
        self._inner = inner
        self.record = record
        self._on_batch = on_batch
        self._on_end = on_end
        self._ended = threading.Lock()
        self._interrupted = False

    def open(self) -> pa.Schema:
        try:
            return self._inner.open()
        except BaseException as exc:
            self._end(_status_of(exc), exc)
            raise

    def next_batch(self) -> pa.RecordBatch | None:
        try:
            if self._interrupted:
                # DuckDB may not notice an interrupt that lands between two batches.
                raise QueryError(ErrorKind.CANCELLED, "query cancelled: the server is stopping")
            batch = self._inner.next_batch()
        except BaseException as exc:
            self._end(_status_of(exc), exc)
            raise
        if batch is None:
            self._end("ok")
            return None
        size = batch.nbytes  # 2.5 µs per column: worked out once per batch
        self.record.rows += batch.num_rows
        self.record.bytes += size
        self._on_batch(batch.num_rows, size)
        return batch

    def interrupt(self) -> None:
        self._interrupted = True
        self._inner.interrupt()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._end("cancelled")  # no-op unless closed before the end

    def __getattr__(self, name: str) -> object:
        # Anything the engine adds to Execution later keeps working through the wrapper.
        return getattr(self._inner, name)

    def _end(self, status: str, exc: BaseException | None = None) -> None:
        if not self._ended.acquire(blocking=False):
            return
        self.record.status = status
        if exc is not None and status == "error":
            self.record.error = type(exc).__name__
        self._on_end(self)


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, GeneratorExit | KeyboardInterrupt):
        return "cancelled"
    if isinstance(exc, QueryError) and exc.kind is ErrorKind.CANCELLED:
        return "cancelled"
    return "error"
