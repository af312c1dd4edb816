"""Benchmark data, generated locally on first use (no downloads) and reused afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
