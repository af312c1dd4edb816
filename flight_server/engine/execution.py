"""One running query on its own DuckDB cursor, or the replay of a cached result: pulled batch
by batch, stoppable from any thread."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from contextlib import suppress

import duckdb
import pyarrow as pa

from flight_server.engine import duckdb_calls
from flight_server.engine.arrow_types import without_dictionaries
from flight_server.engine.errors import ErrorKind, QueryError, classify
from flight_server.engine.result_cache import CachedResult, Recording

# Flight clients refuse messages over 16 MiB by default (gRPC's limit in ADBC, arrow-go and
# arrow-java), so batches of wide rows are split into slices well below it.
_MAX_BATCH_BYTES = 12 * 1024 * 1024


class Execution:
    """Runs ``(sql, parameters)`` steps in order and streams their concatenated batches.

    Every blocking call (``open``, ``next_batch``) can be stopped by ``interrupt`` from
    another thread; DuckDB then raises, which surfaces as a CANCELLED ``QueryError``.
    """

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection | None,
        steps: Sequence[tuple[str, Sequence[object] | None]],
        batch_rows: int,
        tables: Sequence[str] = (),
        recording: Recording | None = None,
    ) -> None:
        """``tables``: the served tables the steps read, named when their storage fails.

        ``recording`` sees every batch streamed, and is committed only if the stream
        reaches its end without error or interruption.
        """
        self._cursor = cursor
        self._tables = tuple(tables)
        self._steps = list(steps)
        self._batch_rows = batch_rows
        self._recording = recording
        self._reader: pa.RecordBatchReader | None = None
        self._schema: pa.Schema | None = None
        self._slices: deque[pa.RecordBatch] = deque()
        self._interrupted = False
        self._closed = False

    @classmethod
    def replaying(cls, result: CachedResult, tables: Sequence[str] = ()) -> Execution:
        """A finished result streamed again exactly (schema, batches, order); no cursor."""
        execution = cls(None, [], 0, tables)
        execution._schema = result.schema
        execution._reader = pa.RecordBatchReader.from_batches(result.schema, result.batches)
        return execution

    def open(self) -> pa.Schema:
        """Start the first step; its schema is the schema of the whole stream."""
        if self._schema is None:
            self._reader = self._run(*self._steps.pop(0))
            self._schema = without_dictionaries(self._reader.schema)
        return self._schema

    def next_batch(self) -> pa.RecordBatch | None:
        """The next non-empty batch, or None at the end of the last step."""
        try:
            batch = self._next_batch()
        except BaseException:
            self._recording = None
            raise
        recording = self._recording
        if recording is None:
            return batch
        if batch is None:
            self._recording = None
            if not self._interrupted:  # an interrupt may end a stream early without error
                recording.commit(self.open())
        elif not recording.add(batch):
            self._recording = None
        return batch

    def _next_batch(self) -> pa.RecordBatch | None:
        schema = self.open()
        if self._interrupted:  # a replay has no cursor whose interrupt would raise
            raise QueryError(ErrorKind.CANCELLED, "the query was cancelled")
        if self._slices:
            return self._slices.popleft()
        while self._reader is not None:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                self._reader = self._run(*self._steps.pop(0)) if self._steps else None
                continue
            except duckdb.Error as exc:
                raise classify(exc, self._tables) from None
            except OSError as exc:
                # Arrow's reader reports DuckDB's interrupt as an OSError.
                if self._interrupted:
                    raise QueryError(ErrorKind.CANCELLED, "the query was cancelled") from None
                raise classify(exc, self._tables) from None
            except pa.ArrowException as exc:  # DuckDB's error, through the Arrow reader
                raise classify(exc, self._tables) from None
            if batch.num_rows:
                return self._sliced(batch if batch.schema.equals(schema) else batch.cast(schema))
        return None

    def _sliced(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch``, or its first slice when it is too big for one Flight message."""
        # The buffers' total bounds ``nbytes`` and costs 2 µs, not 2.5 µs per column.
        if batch.get_total_buffer_size() <= _MAX_BATCH_BYTES:
            return batch
        size = batch.nbytes
        if size <= _MAX_BATCH_BYTES:
            return batch
        rows = math.ceil(batch.num_rows / math.ceil(size / _MAX_BATCH_BYTES))
        self._slices.extend(batch.slice(start, rows) for start in range(rows, batch.num_rows, rows))
        return batch.slice(0, rows)

    @property
    def in_memory(self) -> bool:
        """A replay: its batches are held, so no pull ever blocks or needs interrupting."""
        return self._cursor is None

    @property
    def running(self) -> bool:
        """Neither finished with nor told to stop."""
        return not (self._closed or self._interrupted)

    def interrupt(self) -> None:
        """Stop whatever the cursor is doing now and refuse further work."""
        if self._closed:
            return
        self._interrupted = True
        self._recording = None
        self._steps.clear()
        if self._cursor is not None:
            with suppress(duckdb.ConnectionException):  # closed meanwhile: nothing to stop
                self._cursor.interrupt()

    def close(self) -> None:
        """Release the cursor and the result it holds."""
        self._closed = True
        self._recording = None
        self._steps.clear()
        self._slices.clear()
        self._reader = None
        if self._cursor is not None:
            self._cursor.close()

    def _run(self, sql: str, parameters: Sequence[object] | None) -> pa.RecordBatchReader:
        if self._interrupted:
            raise classify(duckdb.InterruptException("INTERRUPT Error: Interrupted!"))
        assert self._cursor is not None, "only a replay has no cursor, and it has no steps"
        try:
            return duckdb_calls.stream(self._cursor, sql, parameters, self._batch_rows)
        except duckdb.Error as exc:
            raise classify(exc, self._tables) from None
