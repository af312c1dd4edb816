"""A bare pyarrow.flight server streaming one in-memory table: the transport's own limit.

python -m benchmarks.rawflight PORT BATCH_ROWS FILE...
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq


class TableServer(flight.FlightServerBase):
    """Every DoGet streams the whole table, already in memory, in fixed-size batches."""

    def __init__(self, location: str, table: pa.Table, batch_rows: int) -> None:
        super().__init__(location)
        self._batches = table.to_batches(max_chunksize=batch_rows)
        self._schema = table.schema

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
    table = pq.ParquetDataset(files).read().combine_chunks()
    TableServer(f"grpc://127.0.0.1:{port}", table, int(batch_rows)).serve()


if __name__ == "__main__":
    main()
