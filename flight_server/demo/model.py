"""What a generator wrote: the facts a test needs to check a reader against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Layout = Literal["current", "legacy_b", "legacy_a"]
LAYOUTS: tuple[Layout, ...] = ("current", "legacy_b", "legacy_a")

BrokenKind = Literal["invalid_json", "bad_created", "no_description"]


@dataclass(frozen=True)
class GeneratedTable:
    """One table of one version as written."""

    name: str
    # Data files in write order (chunk order); ignored files are not listed here.
    files: tuple[str, ...]
    rows: int
    # Hive partition columns encoded as ``key=value/`` folders (not inside the files).
    partitions: tuple[str, ...]
    # The remark a reader should show for the table, and per column where described.
    description: str
    column_descriptions: Mapping[str, str]
    # ``_SUCCESS`` and dot files inside the table folder that readers must skip.
    ignored_files: tuple[str, ...]


@dataclass(frozen=True)
class GeneratedVersion:
    """One valid version: its identity and its exposed tables."""

    id: str
    label: str
    created: datetime
    latest: bool
    # Folder holding provenance/, schemas/ and tables/ (``.../latest`` in legacy layouts).
    path: str
    tables: Mapping[str, GeneratedTable]


@dataclass(frozen=True)
class BrokenVersion:
    """A folder under ``versions/`` that must never become the latest version.

    ``invalid_json`` and ``no_description`` are not versions at all; ``bad_created`` is a
    valid description whose ``created`` cannot be parsed (a lenient reader may list it).
    """

    kind: BrokenKind
    path: str
    id: str
    label: str | None
    rows: Mapping[str, int]


@dataclass(frozen=True)
class GeneratedDataset:
    """A written dataset: versions oldest first, the exposed table names and the traps."""

    root: str
    layout: Layout
    project_id: str
    project_label: str
    group: str
    versions: tuple[GeneratedVersion, ...]
    # Same in every version, sorted.
    exposed_tables: tuple[str, ...]
    # Folders without a description, and descriptions without a folder.
    unexposed_tables: tuple[str, ...]
    broken: tuple[BrokenVersion, ...]

    @property
    def latest(self) -> GeneratedVersion:
        """The version a reader must pick as latest (greatest ``created``)."""
        return next(v for v in self.versions if v.latest)

    def version(self, key: str) -> GeneratedVersion:
        """A version by id or label."""
        for v in self.versions:
            if key in (v.id, v.label):
                return v
        raise KeyError(key)

    def table(self, name: str, version: str | None = None) -> GeneratedTable:
        """A table of the latest version, or of the version with this id or label."""
        chosen = self.latest if version is None else self.version(version)
        return chosen.tables[name]

    def row_counts(self) -> dict[str, dict[str, int]]:
        """Expected rows: ``{version_label: {table: rows}}``."""
        return {v.label: {n: t.rows for n, t in v.tables.items()} for v in self.versions}
