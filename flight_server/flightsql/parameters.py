"""Bound parameter rows carried inside signed prepared-statement handles.

Binding (DoPut) returns a new handle holding the rows, so no binding state is shared
between callers or kept on the server. The rows travel as a base64 Arrow IPC stream,
capped so that handles stay small enough for every client. An oversized binding is
INVALID_ARGUMENT: pyarrow servers cannot send RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import base64

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import ErrorKind, QueryError

MAX_PARAMETER_BYTES = 256 * 1024


def parameter_schema(count: int) -> pa.Schema:
    """The advertised parameter schema: ``parameter_1``... as nullable strings.

    DuckDB cannot tell the types of unbound parameters, so text is advertised (a JDBC
    driver binds ``setString`` to it and DuckDB casts); any Arrow type is accepted.
    """
    return pa.schema([pa.field(f"parameter_{i}", pa.utf8()) for i in range(1, count + 1)])


def encode_rows(table: pa.Table, expected_columns: int) -> str | None:
    """Check bound rows against the statement and pack them for a handle (None if no rows)."""
    if table.num_columns != expected_columns:
        raise QueryError(
            ErrorKind.INVALID,
            f"the statement takes {expected_columns} parameter(s), {table.num_columns} were bound",
        )
    if table.num_rows == 0:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    if len(data) > MAX_PARAMETER_BYTES:
        raise QueryError(
            ErrorKind.INVALID,
            f"bound parameters take {len(data)} bytes, more than {MAX_PARAMETER_BYTES}",
        )
    return base64.b64encode(data).decode()


def decode_rows(encoded: str | None) -> list[list[object]] | None:
    """The parameter rows packed by ``encode_rows``, as Python values in column order."""
    if not encoded:
        return None
    table = pa.ipc.open_stream(base64.b64decode(encoded)).read_all()
    columns = [column.to_pylist() for column in table.columns]
    return [list(row) for row in zip(*columns, strict=True)]


def read_bound(reader: flight.MetadataRecordBatchReader) -> pa.Table:
    """Read a DoPut's parameter batches, refusing more than the handle can carry."""
    batches = []
    total = 0
    for chunk in reader:
        batch = chunk.data
        total += batch.nbytes
        if total > MAX_PARAMETER_BYTES:
            raise QueryError(
                ErrorKind.INVALID, f"bound parameters exceed {MAX_PARAMETER_BYTES} bytes"
            )
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=reader.schema)
