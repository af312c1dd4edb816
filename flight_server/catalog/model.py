"""Plain typed objects describing served datasets; no I/O happens here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Protocol

import fsspec

from flight_server.storage import Location

#: A column's least and greatest value in one file, as pyarrow reads them.
Bound = int | str | date | datetime
Bounds = tuple[tuple[str, Bound, Bound], ...]


@dataclass(frozen=True, slots=True)
class DataFile:
    """One parquet file: its size from the listing, its rows from its footer (read once).

    Slotted: a site holds one per file it serves, and a ``__dict__`` would double its size.
    """

    path: str
    bytes: int
    rows: int
    #: ``(column, min, max)`` from the footer's statistics, for the columns lookups filter
    #: on (see ``footers.BOUNDED_COLUMNS``): the engine skips files they rule out.
    bounds: Bounds = ()


class FileLoader(Protocol):
    """Reads a table's footers on its first use (``catalog.loading``)."""

    def load(self, table: Table) -> LoadedFiles: ...


@dataclass(frozen=True)
class LoadedFiles:
    """What a table's footers tell: its files in groups of identical parquet schema.

    ``groups`` holds every file once; the other views of the files are read from it.
    """

    groups: tuple[tuple[DataFile, ...], ...]
    #: Each group's column names, from its footers (partition columns from paths not
    #: among them).
    group_columns: tuple[tuple[str, ...], ...] = ()

    @cached_property
    def group_of(self) -> Mapping[str, int]:
        """Each file's group, by path."""
        return {file.path: index for index, group in enumerate(self.groups) for file in group}

    @cached_property
    def data_files(self) -> tuple[DataFile, ...]:
        """Every file, group by group."""
        return tuple(file for group in self.groups for file in group)

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Every file's path, group by group: the order the table's view reads them in."""
        return tuple(file.path for file in self.data_files)

    @cached_property
    def file_groups(self) -> tuple[tuple[str, ...], ...]:
        """The groups' paths."""
        return tuple(tuple(file.path for file in group) for group in self.groups)

    @cached_property
    def file_rows(self) -> Mapping[str, int]:
        """Each file's row count, by path."""
        return {file.path: file.rows for file in self.data_files}

    @cached_property
    def rows(self) -> int:
        """The table's rows."""
        return sum(file.rows for file in self.data_files)


@dataclass(frozen=True)
class Table:
    """One dataset table: its files as listed, and the remarks its schema file gives.

    The listing is all a refresh reads; the footers (rows, schema groups, bounds) are read
    when the table is first used, through ``loaded``, and kept within the loader's budget.
    """

    name: str
    #: Every data file's path, sorted, and its size from the listing.
    files: tuple[str, ...]
    sizes: tuple[int, ...]
    loader: FileLoader = field(repr=False, compare=False)
    hive_partitioned: bool = False
    remarks: str | None = None
    column_remarks: Mapping[str, str] = field(default_factory=dict)
    #: Names this table in the loader's cache: its identity, not its (long) contents.
    token: object = field(default_factory=object, repr=False, compare=False)

    @cached_property
    def file_bytes(self) -> Mapping[str, int]:
        """Each file's size, by path."""
        return dict(zip(self.files, self.sizes, strict=True))

    @property
    def loaded(self) -> LoadedFiles:
        """The table's footers, read now unless held (raises ``UnreadableTable`` if one
        cannot be read; nothing is kept then, so the next use tries again)."""
        return self.loader.load(self)


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
class CentreTable:
    """One centre's copy of a federated table: the input it is read as, and its columns."""

    centre: str
    input: str
    columns: frozenset[str]


@dataclass(frozen=True)
class FederatedUnion:
    """One table across centres, unioned by column name, each row labelled with its centre.

    With ``keys``, rows equal on all of them are duplicates and one is kept: that of the
    centre first in ``centres`` (configuration order), then the smallest row.
    """

    table: str
    parts: tuple[CentreTable, ...]
    keys: tuple[str, ...]
    centres: tuple[str, ...]


@dataclass(frozen=True)
class DerivedTable:
    """A view over other tables: a federated table, or the duplicates report of several.

    It reads each input as a relation named by its key in ``inputs``; the engine writes its
    SQL and binds those names to the inputs' file scans. A plain derived table is
    ``unions[0]`` de-duplicated; a ``report`` has one row per union.
    """

    name: str
    unions: tuple[FederatedUnion, ...]
    inputs: Mapping[str, TableInput] = field(default_factory=dict)
    report: bool = False


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
class ServedTable:
    """One dataset table under one of the schema names it is served as."""

    dataset: Dataset
    schema: str
    version: Version
    table: Table

    @property
    def key(self) -> tuple[str, str, str]:
        """``(catalog, schema, table)``, as published."""
        return (self.dataset.catalog, self.schema, self.table.name)


@dataclass(frozen=True)
class Snapshot:
    """Everything served at one moment; replaced whole on refresh, never mutated."""

    datasets: tuple[Dataset, ...] = ()
    skipped: tuple[SkippedDataset, ...] = ()
    derived: tuple[DerivedSchema, ...] = ()

    def catalogs(self) -> list[str]:
        """Catalog names, sorted."""
        return sorted({d.catalog for d in self.datasets} | {s.catalog for s in self.derived})

    def dataset_schemas(self) -> Iterator[tuple[Dataset, str, Version]]:
        """Each dataset under each schema name it is served as, with the version shown."""
        for dataset in self.datasets:
            for name, version in served_schemas(dataset):
                yield dataset, name, version

    def served_tables(self) -> Iterator[ServedTable]:
        """Every dataset table under every schema name it is served as."""
        for dataset, name, version in self.dataset_schemas():
            for table in version.tables.values():
                yield ServedTable(dataset, name, version, table)

    def schemas(self) -> Iterator[ServedSchema]:
        """Every schema served: each dataset under each of its names, then derived schemas."""
        for dataset, name, version in self.dataset_schemas():
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
