"""Each file's least and greatest value of the columns lookups filter on, from its footer.

Flywheel queries pick rows by ``id`` and by the hierarchy (``parents.project``,
``parents.subject``, ...); with these bounds the engine skips the files a lookup's WHERE
clause rules out instead of letting DuckDB open every file of the table. Only those
columns are kept, since every file holds its bounds for as long as it is served; hive
partition columns need none (their values are in the file's path).
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq

from flight_server.catalog.model import Bound, Bounds
from flight_server.identifiers import fold


def bounded_column(name: str) -> bool:
    """Whether a column's bounds are kept: ``id`` and the ``parents.*`` columns."""
    folded = fold(name)
    return folded == "id" or folded.startswith("parents.")


def file_bounds(metadata: pq.FileMetaData, schema: pa.Schema) -> Bounds:
    """``(column, min, max)`` of the bounded top-level columns whose statistics every row
    group has; ``schema`` is the file's Arrow schema (types pyarrow reads the values as)."""
    found = []
    for index in range(metadata.num_columns):
        column = metadata.schema.column(index)
        # A nested field's leaf is named by its own name; a top-level column's path is its name.
        if column.path != column.name or not bounded_column(column.name):
            continue
        field_index = schema.get_field_index(column.name)
        if field_index < 0 or not _ordered_type(schema.field(field_index).type):
            continue
        bounds = _column_bounds(metadata, index)
        if bounds is not None:
            found.append((sys.intern(column.name), *bounds))
    return tuple(found)


def _ordered_type(kind: pa.DataType) -> bool:
    """Types whose statistics pyarrow gives as ``int``, ``str``, ``date`` or ``datetime``."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_timestamp(kind):
        return kind.unit != "ns"  # nanoseconds come back as pandas objects
    return (
        pa.types.is_integer(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_date32(kind)
    )


def _column_bounds(metadata: pq.FileMetaData, index: int) -> tuple[Bound, Bound] | None:
    """The column's min and max over all row groups (None when one lacks statistics)."""
    low: Bound | None = None
    high: Bound | None = None
    try:
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            statistics = row_group.column(index).statistics
            if statistics is None:
                return None
            if not statistics.has_min_max:
                if statistics.has_null_count and statistics.null_count == row_group.num_rows:
                    continue  # only NULLs here, which no comparison matches
                return None
            if low is None or statistics.min < low:
                low = statistics.min
            if high is None or statistics.max > high:
                high = statistics.max
    except (ArithmeticError, ValueError, pa.ArrowException):
        return None  # a value Python cannot hold (a year past 9999): no bounds, no pruning
    if low is None or high is None:
        return None
    return low, (low if high == low else high)  # one object when they are equal
