"""Small hand-written centre datasets for federation and export tests (current layout)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from flight_server.storage import Location, open_location
from tests.servers.s3 import S3Server

SUBJECTS = pa.schema([("id", pa.string()), ("label", pa.string()), ("age", pa.int64())])
BUCKET = "fw-centres"
SESSIONS = pa.schema([("id", pa.string()), ("subject", pa.string()), ("visit", pa.int64())])
SUBJECTS_B = SUBJECTS.append(pa.field("sex", pa.string()))  # centre b has an extra column
NOTES = pa.schema([("text", pa.string())])
_counter = itertools.count()


def write_centre(
    fs: fsspec.AbstractFileSystem,
    root: str,
    tables: dict[str, pa.Table],
    *,
    version: str = "6543a1b2c3d4e5f6071829aa",
    created: str = "2025-09-24T20:24:22.004+00:00",
) -> None:
    """One version of a dataset at ``root``: description, schema files, one file per table."""
    folder = f"{root}/versions/{version}"
    description = {
        "id": "6543a1b2c3d4e5f607182930",
        "name": root.rsplit("/", 1)[-1],
        "version": version,
        "version_label": version,
        "created": created,
        "tables": {name: {"description": f"{name} table", "properties": {}} for name in tables},
    }
    fs.pipe(f"{folder}/provenance/dataset_description.json", json.dumps(description).encode())
    for name, table in tables.items():
        schema = {"$schema": "http://json-schema.org/draft-07/schema#", "$id": name}
        fs.pipe(f"{folder}/schemas/{name}.schema.json", json.dumps(schema).encode())
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        fs.pipe(f"{folder}/tables/{name}/part-0.parquet", sink.getvalue().to_pybytes())


def rows(schema: pa.Schema, *values: tuple) -> pa.Table:
    """A table from row tuples."""
    return pa.Table.from_pylist([dict(zip(schema.names, v, strict=True)) for v in values], schema)


def consortium_config(s3_server: S3Server, base: Path) -> dict[str, Any]:
    """Centre a on local disk (served), b on S3 (served), c on S3 (a bare location).

    Duplicates: s1 (a, c), s3 (a, b), s4 twice in b; b has no sessions and an extra column.
    Centre a also has an older version whose rows must not appear.
    """
    local = fsspec.filesystem("file", auto_mkdir=True)
    site_a = str(base / "site_a")
    write_centre(
        local,
        site_a,
        {"subjects": rows(SUBJECTS, ("s9", "old", 1))},
        version="6543a1b2c3d4e5f607182901",
        created="2024-01-01T00:00:00Z",
    )
    write_centre(
        local,
        site_a,
        {
            "subjects": rows(SUBJECTS, ("s1", "a1", 30), ("s2", "a2", 31), ("s3", "a3", 32)),
            "sessions": rows(SESSIONS, ("x1", "s1", 1), ("x2", "s2", 1)),
        },
    )
    s3_server.create_bucket(BUCKET)
    options = s3_server.location_options()
    run = next(_counter)
    s3 = open_location(Location("s3", BUCKET, "", options))
    write_centre(
        s3,
        f"{BUCKET}/{run}/site_b",
        {
            "subjects": rows(
                SUBJECTS_B, ("s3", "b3", 40, "F"), ("s4", "b4z", 41, "M"), ("s4", "b4a", 41, "M")
            )
        },
    )
    write_centre(
        s3,
        f"{BUCKET}/{run}/site_c",
        {
            "subjects": rows(SUBJECTS, ("s5", "c5", 50), ("s1", "c1", 51)),
            "sessions": rows(SESSIONS, ("x1", "s1", 1), ("x3", "s5", 2)),
            "notes": rows(NOTES, ("same",), ("same",)),
        },
    )
    return {
        "datasets": [
            {"name": "site_a", "location": site_a},
            {"name": "site_b", "location": f"s3://{BUCKET}/{run}/site_b", "options": options},
        ],
        "federated": [
            {
                "name": "consortium",
                "centres": {
                    "a": "local.site_a",
                    "b": "local.site_b",
                    "c": {"location": f"s3://{BUCKET}/{run}/site_c", "options": options},
                },
                "criteria": {"subjects": ["id"], "sessions": ["id", "subject"]},
            },
            {"name": "broken", "centres": {"a": "local.nowhere"}},
        ],
    }
