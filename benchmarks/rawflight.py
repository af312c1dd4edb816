"""A bare pyarrow.flight server streaming one in-memory table: the transport's own limit.

python -m benchmarks.rawflight PORT BATCH_ROWS FILE...
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq


def in_memory(files: list[str], batch_rows: int) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    """The files' table read into memory whole, in batches of ``batch_rows`` rows."""
    table = pq.ParquetDataset(files).read().combine_chunks()
    return table.schema, table.to_batches(max_chunksize=batch_rows)


class TableServer(flight.FlightServerBase):
    """Every DoGet streams the whole table, already in memory, in fixed-size batches."""

    def __init__(self, location: str, schema: pa.Schema, batches: list[pa.RecordBatch]) -> None:
        super().__init__(location)
        self._schema = schema
        self._batches = batches

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return []  # answers the readiness probe

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.RecordBatchStream:
        return flight.RecordBatchStream(
            pa.RecordBatchReader.from_batches(self._schema, self._batches)
        )


def main() -> None:
    port, batch_rows, *files = sys.argv[1:]
    TableServer(f"grpc://127.0.0.1:{port}", *in_memory(files, int(batch_rows))).serve()


if __name__ == "__main__":
    main()
