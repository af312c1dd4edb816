"""The JSON files that make an export a dataset version: description and schema files."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from flight_server.catalog.json_schema import json_schema_type

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
        "properties": {field.name: json_schema_type(field.type) for field in schema},
        "required": [],
        "type": "object",
    }


def schema_file(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """``schemas/{table}.schema.json``."""
    return {"$schema": DRAFT_07, "$id": name, **entry}
