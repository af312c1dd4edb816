"""Flight SQL column metadata (``ARROW:FLIGHT:SQL:*``) on every result schema we send.

JDBC's ResultSetMetaData and DatabaseMetaData.getColumns read these keys: the type
name, precision and scale, and for table schemas where each column lives and its remarks.
DuckDB result columns do not say which table they came from, so statement results carry
only what holds for any column of this read-only server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from flight_server.engine.duckdb_engine import MAX_CACHED_COLUMNS
from flight_server.flightsql.schemas import ColumnMetadataKey as Key
from flight_server.lru import LruCache

#: Result schemas already described: a statement is described at CreatePreparedStatement
#: and again at GetFlightInfo, and describing 200 columns costs about 3 ms.
_DESCRIBED: LruCache[tuple[pa.Schema, tuple[str, ...]], pa.Schema] = LruCache(
    256, max_weight=MAX_CACHED_COLUMNS, weight=lambda key, _described: len(key[1])
)


def for_result(schema: pa.Schema, type_names: Sequence[str]) -> pa.Schema:
    """Describe a statement's result columns."""
    key = (schema, tuple(type_names))
    return _DESCRIBED.get_or_make(
        key,
        lambda: pa.schema(
            [
                _describe(field, type_name, {})
                for field, type_name in zip(schema, type_names, strict=True)
            ],
            metadata=schema.metadata,
        ),
    )


def for_table(
    schema: pa.Schema,
    type_names: Sequence[str],
    location: tuple[str, str, str],
    remarks: Mapping[str, str],
) -> pa.Schema:
    """Describe a table's columns, with their catalog, schema, table and remarks."""
    catalog, db_schema, table = location
    fields = []
    for field, type_name in zip(schema, type_names, strict=True):
        extra = {Key.CATALOG_NAME: catalog, Key.SCHEMA_NAME: db_schema, Key.TABLE_NAME: table}
        if remarks.get(field.name):
            extra[Key.REMARKS] = remarks[field.name]
        fields.append(_describe(field, type_name, extra))
    return pa.schema(fields, metadata=schema.metadata)


def _describe(field: pa.Field, type_name: str, extra: Mapping[str, str]) -> pa.Field:
    metadata: dict[bytes, bytes] = dict(field.metadata or {})
    values = {
        Key.TYPE_NAME: type_name,
        Key.IS_READ_ONLY: "1",
        Key.IS_AUTO_INCREMENT: "0",
        Key.IS_SEARCHABLE: "1",
        Key.IS_CASE_SENSITIVE: "1" if _is_text(field.type) else "0",
        **extra,
    }
    precision_scale = _precision_scale(field.type)
    if precision_scale is not None:
        values[Key.PRECISION], values[Key.SCALE] = (str(n) for n in precision_scale)
    for key, value in values.items():
        metadata[str(key).encode()] = value.encode()
    return field.with_metadata(metadata)


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def _precision_scale(data_type: pa.DataType) -> tuple[int, int] | None:
    """Decimal digits for exact numerics (JDBC's getPrecision/getScale)."""
    if pa.types.is_decimal(data_type):
        return data_type.precision, data_type.scale
    integer_digits = {8: 3, 16: 5, 32: 10, 64: 19}
    if pa.types.is_integer(data_type):
        return integer_digits[data_type.bit_width], 0
    return None
