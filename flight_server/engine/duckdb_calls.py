"""The two DuckDB calls a query needs, each parsing and binding its statement once.

DuckDB 2.0's Python relations are SQL text: ``cursor.sql(text)`` parses and binds it (and
tokenises it in Python to find markers), and reading the relation parses and binds the
text again to run it. A served statement is always one SELECT that the guard has checked,
so the server calls the one-statement entry points beneath both directly. They are
private to DuckDB's Python package; ``pyproject.toml`` and ``constraints.txt`` hold DuckDB
to 2.0.x, and every query in the test suite goes through them.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa


def signature(
    cursor: duckdb.DuckDBPyConnection, sql: str, values: Sequence[object] | None
) -> tuple[list[str], list[duckdb.DuckDBPyType]]:
    """The names and types of the columns ``sql`` returns with ``values``, without running it."""
    names, types, *_ = cursor._bind(sql, with_writes=True, values=list(values) if values else None)
    return names, types


def stream(
    cursor: duckdb.DuckDBPyConnection, sql: str, values: Sequence[object] | None, batch_rows: int
) -> pa.RecordBatchReader:
    """``sql`` running with ``values``, read batch by batch; a text of several statements
    is refused."""
    values = list(values) if values else None
    return cursor._submit(sql, values, "stream", batch_rows).arrow_reader()
