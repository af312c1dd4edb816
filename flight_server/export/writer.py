"""Stream one query's batches into parquet files on any fsspec filesystem.

Only one batch is held at a time and a file is closed every ``rows_per_file`` rows, so
memory stays bounded however large the table is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from flight_server.engine import Execution


@dataclass(frozen=True)
class Written:
    """What one table's export wrote."""

    schema: pa.Schema
    rows: int
    files: tuple[str, ...]


def write_table(
    execution: Execution,
    fs: fsspec.AbstractFileSystem,
    folder: str,
    rows_per_file: int,
    on_batch: Callable[[int, int], None],
) -> Written:
    """Write ``execution``'s rows to ``folder/part-NNNNN.parquet``; an empty result is one file.

    ``on_batch`` is told the rows and files written so far after every batch.
    """
    schema = execution.open()
    fs.makedirs(folder, exist_ok=True)
    files: list[str] = []
    rows = 0
    sink = writer = None
    in_file = 0
    try:
        while (batch := execution.next_batch()) is not None:
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    files.append(f"{folder}/part-{len(files):05d}.parquet")
                    sink = fs.open(files[-1], "wb")
                    writer = pq.ParquetWriter(sink, schema, compression="zstd")
                    in_file = 0
                piece = batch.slice(offset, rows_per_file - in_file)
                writer.write_batch(piece)
                offset += piece.num_rows
                in_file += piece.num_rows
                rows += piece.num_rows
                if in_file >= rows_per_file:
                    writer.close()
                    sink.close()
                    writer = sink = None
            on_batch(rows, len(files))
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
        execution.close()
    if not files:  # readers expose a table only when its folder holds a file
        files.append(f"{folder}/part-00000.parquet")
        with fs.open(files[-1], "wb") as empty:
            pq.write_table(schema.empty_table(), empty)
    return Written(schema, rows, tuple(files))
