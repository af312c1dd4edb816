"""The JSON files that make an export a dataset version: description and schema files."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def description(
    *, source_id: str, name: str, version: str, created: str, text: str, tables: dict[str, Any]
) -> dict[str, Any]:
    """``provenance/dataset_description.json``: the version's id and label are its folder name."""
    return {
        "id": source_id,
        "name": name,
        "version": version,
        "version_label": version,
        "created": created,
        "description": text,
        "tables": tables,
    }


def table_entry(schema: pa.Schema, text: str) -> dict[str, Any]:
    """A table's entry in the description: its columns as JSON-schema properties."""
    return {
        "description": text,
        "properties": {field.name: _property(field.type) for field in schema},
        "required": [],
        "type": "object",
    }


def schema_file(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """``schemas/{table}.schema.json``."""
    return {"$schema": DRAFT_07, "$id": name, **entry}


def _property(data_type: pa.DataType) -> dict[str, Any]:
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
        return {"type": "array", "items": _property(data_type.value_type)}
    if pa.types.is_struct(data_type) or pa.types.is_map(data_type):
        return {"type": "object"}
    return {"type": "string"}
