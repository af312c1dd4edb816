"""Writing files through fsspec, and the JSON documents a Flywheel version carries."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from flight_server.demo.tables import TableSpec

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


class Sink:
    """Writes files through any fsspec filesystem, creating parent folders where needed."""

    def __init__(self, fs: fsspec.AbstractFileSystem) -> None:
        self.fs = fs

    def _open(self, path: str) -> Any:
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        return self.fs.open(path, "wb")

    def bytes(self, path: str, data: bytes) -> str:
        with self._open(path) as f:
            f.write(data)
        return path

    def json(self, path: str, doc: Any) -> str:
        return self.bytes(path, (json.dumps(doc, indent=2) + "\n").encode())

    @contextmanager
    def parquet_writer(self, path: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
        """A parquet writer for streaming batches: memory stays bounded by one batch."""
        with self._open(path) as f, pq.ParquetWriter(f, schema, compression="snappy") as writer:
            yield writer

    def parquet(self, path: str, table: pa.Table) -> str:
        with self.parquet_writer(path, table.schema) as writer:
            writer.write_table(table)
        return path


def chunk_name(rng: random.Random) -> str:
    """A chunk file name as container-table writers produce it: ``{uuid4}-0.parquet``."""
    return f"{uuid.UUID(int=rng.getrandbits(128), version=4)}-0.parquet"


def iso(moment: datetime) -> str:
    """``2025-09-24T20:24:22.004+00:00``: milliseconds and an explicit offset."""
    return moment.isoformat(timespec="milliseconds")


def table_entry(spec: TableSpec) -> dict[str, Any]:
    """The ``tables`` entry of a description for one table."""
    return {
        "description": spec.description,
        "properties": spec.properties(),
        "required": spec.required(),
        "type": "object",
    }


def schema_doc(spec: TableSpec, *, dollar: bool, minimal: bool = False) -> dict[str, Any]:
    """A ``schemas/{table}.schema.json`` document.

    ``dollar`` picks ``$schema``/``$id`` over ``schema``/``id`` (writers used both);
    ``minimal`` gives the empty-properties form tabular-data tables get.
    """
    prefix = "$" if dollar else ""
    doc: dict[str, Any] = {f"{prefix}schema": DRAFT_07, f"{prefix}id": spec.name}
    if minimal:
        return {**doc, "description": spec.description, "properties": {}, "required": []}
    doc |= table_entry(spec)
    return doc | {"title": spec.name, "additionalProperties": True}


def description_doc(
    *,
    project_id: str,
    project_label: str,
    group: str,
    version_id: str,
    label: str,
    created: str,
    tables: list[TableSpec],
) -> dict[str, Any]:
    """``provenance/dataset_description.json``, writer-side noise keys included."""
    return {
        "id": project_id,
        "name": project_label,
        "version": version_id,
        "version_label": label,
        "created": created,
        "description": f"Dataset of {group}/{project_label}, snapshot {label}",
        "tables": {spec.name: table_entry(spec) for spec in tables},
        # Noise that real writers leave behind; readers must ignore all of it.
        "paths": {"provenance": "provenance", "tables": "tables", "schemas": "schemas"},
        "dataset_info": {"writer": "fw-dataset", "writer_version": "0.4.3"},
        "fw_storage_info": {"type": "fs", "bucket": "demo", "prefix": f"{group}/{project_id}"},
        "conn": None,
        "errors": [],
        "fully_populate": True,
    }


def project_doc(*, project_id: str, project_label: str, group: str) -> dict[str, Any]:
    """``provenance/project.json``: the project record the dataset was built from."""
    return {
        "_id": project_id,
        "label": project_label,
        "group": group,
        "parents": {"group": group},
        "info": {"dataset": {"type": "fs", "bucket": "demo", "prefix": f"{group}/{project_id}"}},
    }


def snapshot_doc(*, version_id: str, created: str) -> dict[str, Any]:
    """``provenance/snapshot_info.json``: the snapshot the version was exported from."""
    return {"_id": version_id, "created": created, "status": "complete"}
