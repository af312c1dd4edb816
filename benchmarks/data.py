"""Benchmark data, generated locally on first use (no downloads) and reused afterwards."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec

from flight_server.catalog.layout import read_versions
from flight_server.demo import write_dataset, write_scan_table

DATA_DIR = Path(__file__).resolve().parent.parent / "bench-data"


@dataclass(frozen=True)
class TableFiles:
    """A dataset root and one of its tables' parquet files."""

    root: str
    files: tuple[str, ...]


def scan_table(rows: int) -> TableFiles:
    """The mixed-type ``scan`` table (ints, doubles, strings, timestamps, a list) of ``rows``."""
    root = _generated(
        f"scan-{rows}", lambda at: write_scan_table(at, rows, files=max(1, rows // 500_000))
    )
    return _table(root, "scan")


def flywheel_tables(subjects: int) -> dict[str, TableFiles]:
    """A Flywheel-style dataset (sessions x files) by table name."""
    root = _generated(
        f"flywheel-{subjects}",
        lambda at: write_dataset(at, subjects=subjects, versions=1, chunk_rows=250_000),
    )
    return {name: _table(root, name) for name in ("sessions", "files")}


#: Rows per session in the research group's physiological recordings (tabular data).
PHYSIO_ROWS_PER_SESSION = 1600
#: Sessions per exported CSV (one parquet file each, as tabular-data tables are written).
PHYSIO_SESSIONS_PER_FILE = 250


def research_group(subjects: int) -> dict[str, TableFiles]:
    """A research group's dataset of a few GB: the Flywheel tables of ``subjects`` subjects
    plus ``physio``, a tabular-data table of physiological recordings (1,600 samples per
    session, one file per exported CSV), which holds most of the bytes as such tables do."""
    root = _generated(f"group-{subjects}", lambda at: _write_group(at, subjects))
    return {name: _table(root, name) for name in ("subjects", "sessions", "files", "physio")}


def _write_group(at: str, subjects: int) -> None:
    write_dataset(at, subjects=subjects, versions=1, chunk_rows=250_000)
    version = read_versions(fsspec.filesystem("file"), at)[0][-1]
    sessions = version.tables["sessions"].files
    folder = Path(version.tables["sessions"].files[0]).parents[1]
    physio = folder / "physio"
    physio.mkdir()
    con = duckdb.connect()
    con.execute(f"SET threads = 2; SET memory_limit = '2GB'; SET temp_directory = '{at}/.tmp'")
    con.execute(
        "CREATE TABLE s AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, "
        '"parents.group" AS g, "parents.project" AS p, "parents.subject" AS subj '
        "FROM read_parquet(?)",
        [list(sessions)],
    )
    count = con.execute("SELECT count(*) FROM s").fetchall()[0][0]
    for first in range(0, count, PHYSIO_SESSIONS_PER_FILE):
        con.execute(
            f"""COPY (
                SELECT g AS "parents.group", p AS "parents.project", subj AS "parents.subject",
                       id AS "parents.session", id || '-physio.csv' AS "parents.file",
                       i::INTEGER AS sample, i / 50.0 AS t,
                       60 + 25 * random() AS heart_rate, 10 + 8 * random() AS resp_rate,
                       0.9 + 0.1 * random() AS spo2,
                       CASE WHEN i % 97 = 0 THEN 'stimulus ' || (i // 97) END AS marker
                FROM s, range({PHYSIO_ROWS_PER_SESSION}) AS r(i)
                WHERE n >= {first} AND n < {first + PHYSIO_SESSIONS_PER_FILE}
                ORDER BY n, i
            ) TO '{physio}/physio-{first // PHYSIO_SESSIONS_PER_FILE:04d}.parquet'
            (FORMAT parquet, COMPRESSION zstd)"""
        )
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "physio",
        "description": "Table derived from Tabular Data File: physio.csv",
        "properties": {},
        "required": [],
    }
    (folder.parent / "schemas" / "physio.schema.json").write_text(json.dumps(schema))
    shutil.rmtree(f"{at}/.tmp", ignore_errors=True)


def _generated(name: str, write: Callable[[str], object]) -> str:
    """``DATA_DIR/name``, written by ``write`` on first use; an interrupted write is redone."""
    root = DATA_DIR / name
    if not root.exists():
        scratch = DATA_DIR / f".{name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        write(str(scratch))
        scratch.rename(root)
    return str(root)


def _table(root: str, name: str) -> TableFiles:
    latest = read_versions(fsspec.filesystem("file"), root)[0][-1]
    return TableFiles(root, latest.tables[name].files)
