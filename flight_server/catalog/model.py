"""Plain typed objects describing served datasets; no I/O happens here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import fsspec

from flight_server.storage import Location


@dataclass(frozen=True)
class Table:
    """One dataset table: its data files and the remarks its schema file gives.

    ``file_groups`` partitions ``files`` into groups of identical parquet schema.
    """

    name: str
    files: tuple[str, ...]
    file_groups: tuple[tuple[str, ...], ...]
    hive_partitioned: bool = False
    remarks: str | None = None
    column_remarks: Mapping[str, str] = field(default_factory=dict)


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
    """A configured dataset that could not be served, and why (for the ``datasets`` listing)."""

    catalog: str
    name: str
    location: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """Everything served at one moment; replaced whole on refresh, never mutated."""

    datasets: tuple[Dataset, ...] = ()
    skipped: tuple[SkippedDataset, ...] = ()

    def catalogs(self) -> list[str]:
        """Catalog names, sorted."""
        return sorted({d.catalog for d in self.datasets})

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
