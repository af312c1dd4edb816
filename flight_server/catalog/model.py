"""Plain typed objects describing served datasets; no I/O happens here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import fsspec

from flight_server.storage import Location


@dataclass(frozen=True)
class Table:
    """One dataset table: its data files and the remarks its schema file gives.

    ``file_groups`` partitions ``files`` into groups of identical parquet schema;
    ``file_rows`` is each file's row count, both from the footers read once per file;
    ``file_bytes`` is each file's size, from the listing.
    """

    name: str
    files: tuple[str, ...]
    file_groups: tuple[tuple[str, ...], ...]
    file_rows: Mapping[str, int]
    hive_partitioned: bool = False
    remarks: str | None = None
    column_remarks: Mapping[str, str] = field(default_factory=dict)
    file_bytes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """One valid dataset version (a folder with a readable description)."""

    id: str
    label: str
    created: datetime | None
    path: str
    description: str | None = None
    tables: Mapping[str, Table] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """A served dataset: ``catalog.name`` is what users type; versions are oldest first."""

    catalog: str
    name: str
    location: Location
    filesystem: fsspec.AbstractFileSystem = field(repr=False, compare=False)
    versions: tuple[Version, ...]
    #: The Flywheel project it was discovered from (None for configured datasets): what
    #: Flywheel roles grant, since labels and groups are only names.
    project_id: str | None = None
    #: Versions and tables left out, each with its reason (the rest is served).
    problems: tuple[str, ...] = ()
    #: Why the last load failed, when this is the last good one kept instead; else None.
    stale: str | None = None

    @property
    def latest(self) -> Version:
        """The version a plain schema name shows: the newest by ``created``."""
        return self.versions[-1]

    def version(self, ref: str) -> Version | None:
        """Find a version by label or id."""
        for version in self.versions:
            if ref in (version.label, version.id):
                return version
        return None


@dataclass(frozen=True)
class SkippedDataset:
    """A dataset that could not be served, and why (for the ``datasets`` listing).

    ``location`` and ``reason`` are for display: built without credentials (see
    ``storage.secrets``), never from a raw configured string.
    """

    catalog: str
    name: str
    location: str
    reason: str
    project_id: str | None = None


@dataclass(frozen=True)
class TableInput:
    """A dataset table a derived view reads, scanned exactly as the dataset's own view."""

    dataset: Dataset
    table: Table


@dataclass(frozen=True)
class DerivedTable:
    """A view defined by SQL over other tables.

    ``sql`` is one SELECT that reads each input as a relation named by its key in
    ``inputs``; the engine binds those names to the inputs' file scans.
    """

    name: str
    sql: str
    inputs: Mapping[str, TableInput] = field(default_factory=dict)


@dataclass(frozen=True)
class DerivedSchema:
    """A served schema of derived tables and what it was built from (a federated dataset).

    ``sources`` maps a source name (a centre) to the dataset whose latest version the
    tables read; ``criteria`` are the per-table duplicate keys.
    """

    catalog: str
    name: str
    tables: tuple[DerivedTable, ...]
    sources: Mapping[str, Dataset] = field(default_factory=dict)
    criteria: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Why the last build failed, when this is the last good one kept instead; else None.
    stale: str | None = None


@dataclass(frozen=True)
class ServedSchema:
    """A schema name users can type, with its tables' column remarks by table name."""

    catalog: str
    name: str
    tables: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Snapshot:
    """Everything served at one moment; replaced whole on refresh, never mutated."""

    datasets: tuple[Dataset, ...] = ()
    skipped: tuple[SkippedDataset, ...] = ()
    derived: tuple[DerivedSchema, ...] = ()

    def catalogs(self) -> list[str]:
        """Catalog names, sorted."""
        return sorted({d.catalog for d in self.datasets} | {s.catalog for s in self.derived})

    def schemas(self) -> Iterator[ServedSchema]:
        """Every schema served: each dataset under each of its names, then derived schemas."""
        for dataset in self.datasets:
            for name, version in served_schemas(dataset):
                remarks = {table.name: table.column_remarks for table in version.tables.values()}
                yield ServedSchema(dataset.catalog, name, remarks)
        for derived in self.derived:
            yield ServedSchema(derived.catalog, derived.name, {t.name: {} for t in derived.tables})

    def find(self, catalog: str, name: str) -> Dataset | None:
        """The dataset served as ``catalog.name``."""
        for dataset in self.datasets:
            if (dataset.catalog, dataset.name) == (catalog, name):
                return dataset
        return None


def served_schemas(dataset: Dataset) -> list[tuple[str, Version]]:
    """The schema names a dataset appears under: latest, then ``name@label`` per version.

    A version whose id differs from its label is reachable by both.
    """
    names = [(dataset.name, dataset.latest)]
    for version in dataset.versions:
        names.append((f"{dataset.name}@{version.label}", version))
        if version.id != version.label:
            names.append((f"{dataset.name}@{version.id}", version))
    return names
