"""Arrow types as the JSON-schema types Flywheel writes in ``schemas/{table}.schema.json``."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def json_schema_type(data_type: pa.DataType) -> dict[str, Any]:
    """The JSON-schema type of an Arrow type (descriptive only: parquet carries the types)."""
    if pa.types.is_boolean(data_type):
        return {"type": "boolean"}
    if pa.types.is_integer(data_type):
        return {"type": "integer"}
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return {"type": "number"}
    if pa.types.is_timestamp(data_type):
        return {"type": "string", "format": "date-time"}
    if pa.types.is_date(data_type):
        return {"type": "string", "format": "date"}
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return {"type": "array", "items": json_schema_type(data_type.value_type)}
    if pa.types.is_struct(data_type) or pa.types.is_map(data_type):
        return {"type": "object"}
    return {"type": "string"}
