"""Export one table at a time through the engine into ``<url>/<YYYYmmdd-HHMMSS>/``.

The stamp folder is a dataset version in the current layout: ``tables/``, ``schemas/``,
``provenance/dataset_description.json``, plus ``provenance.json`` with the sources, versions,
criteria and row counts. The description is written last, so a failed export is never
mistaken for a version. Exporting into ``<root>/versions`` makes every export a version
of the dataset at ``<root>``, the newest being its latest.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flight_server import __version__
from flight_server.catalog.federated import REPORT_TABLE
from flight_server.engine import QueryContext
from flight_server.engine.sql_text import qualified
from flight_server.export import documents
from flight_server.export.progress import Progress
from flight_server.export.source import Source, SourceError, find_source
from flight_server.export.writer import write_table
from flight_server.runtime import Runtime
from flight_server.storage import Location, open_location

STAMP_FORMAT = "%Y%m%d-%H%M%S"


class ExportError(RuntimeError):
    """An export that cannot start or finish; the message is one line for the operator."""


def export(
    runtime: Runtime,
    ref: str,
    target: Location,
    *,
    rows_per_file: int = 1_000_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Export ``ref`` from the runtime's current snapshot; returns the provenance written."""
    try:
        source = find_source(runtime.snapshot, ref)
    except SourceError as exc:
        raise ExportError(str(exc)) from None
    progress = progress or Progress()
    started = datetime.now(UTC)
    stamp = started.strftime(STAMP_FORMAT)
    fs = open_location(target)
    folder = f"{target.root.rstrip('/')}/{stamp}"
    if fs.exists(folder):
        raise ExportError(f"{target.display()}/{stamp} already exists")
    report = _report(runtime, source)
    tables: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    for table in source.tables:
        sql = f"SELECT * FROM {qualified(source.catalog, source.name, table)}"
        written = write_table(
            runtime.engine.start(sql, QueryContext()),
            fs,
            f"{folder}/tables/{table}",
            rows_per_file,
            lambda rows, files, table=table: progress.update(table, rows, files),
        )
        progress.done(table, written.rows, len(written.files))
        counts = report.get(table, {"rows_in": written.rows, "duplicates_dropped": 0})
        tables[table] = {
            "criteria": list(source.criteria.get(table, ())),
            "rows_in": counts["rows_in"],
            "duplicates_dropped": counts["duplicates_dropped"],
            "rows_out": written.rows,
            "files": [path.rsplit("/", 1)[-1] for path in written.files],
        }
        entries[table] = documents.table_entry(written.schema, f"{table} of {source.name}")
        _write_json(
            fs,
            f"{folder}/schemas/{table}.schema.json",
            documents.schema_file(table, entries[table]),
        )
    finished = datetime.now(UTC)
    provenance = {
        "tool": "fw-flight-sql",
        "tool_version": __version__,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "source": {
            "catalog": source.catalog,
            "name": source.name,
            "kind": "federated" if source.federated else "dataset",
        },
        "sources": list(source.origins),
        "criteria": {table: list(keys) for table, keys in source.criteria.items()},
        "tables": tables,
        "output": f"{target.display()}/{stamp}",
    }
    _write_json(fs, f"{folder}/provenance.json", provenance)
    description = documents.description(
        source_id=f"{source.catalog}.{source.name}",
        name=source.name,
        version=stamp,
        created=started.isoformat(),
        text=f"Export of {source.catalog}.{source.name} at {stamp}",
        tables=entries,
    )
    _write_json(fs, f"{folder}/provenance/dataset_description.json", description)
    return provenance


def _report(runtime: Runtime, source: Source) -> dict[str, dict[str, int]]:
    """Rows in and duplicates dropped per table, from a federated dataset's report."""
    if not source.federated:
        return {}
    sql = (
        "SELECT table_name, rows_in, duplicates_dropped "
        f"FROM {qualified(source.catalog, source.name, REPORT_TABLE)}"
    )
    execution = runtime.engine.start(sql, QueryContext())
    report: dict[str, dict[str, int]] = {}
    try:
        while (batch := execution.next_batch()) is not None:
            for row in batch.to_pylist():
                report[row.pop("table_name")] = row
    finally:
        execution.close()
    return report


def _write_json(fs: Any, path: str, doc: Any) -> None:
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        handle.write((json.dumps(doc, indent=2) + "\n").encode())
