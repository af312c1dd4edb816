"""Datasets named in the configuration (no Flywheel site involved)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from flight_server.catalog.layout import LayoutError, read_versions
from flight_server.catalog.model import Dataset, SkippedDataset, Snapshot
from flight_server.config import DatasetSettings
from flight_server.storage import Location, StorageError, open_location, parse_location

log = logging.getLogger(__name__)


def load_static(entries: Iterable[DatasetSettings], default_catalog: str) -> Snapshot:
    """Open every configured dataset; one that cannot be served is skipped with its reason."""
    datasets: list[Dataset] = []
    skipped: list[SkippedDataset] = []
    for entry in entries:
        catalog = entry.catalog or default_catalog
        options = {key: secret.get_secret_value() for key, secret in entry.options.items()}
        try:
            location = _absolute(parse_location(entry.location, options))
            datasets.append(open_dataset(catalog, entry.name, location))
        except (LayoutError, StorageError, OSError) as exc:
            log.warning("skipping dataset %s.%s: %s", catalog, entry.name, exc)
            skipped.append(SkippedDataset(catalog, entry.name, entry.location, str(exc)))
    return Snapshot(tuple(datasets), tuple(skipped))


def open_dataset(
    catalog: str, name: str, location: Location, project_id: str | None = None
) -> Dataset:
    """Open the location's filesystem and read every valid version under its root."""
    filesystem = open_location(location)
    versions = read_versions(filesystem, location.root)
    return Dataset(catalog, name, location, filesystem, tuple(versions), project_id)


def _absolute(location: Location) -> Location:
    """Local roots are resolved against the working directory once, at load time."""
    if location.type != "fs":
        return location
    return Location("fs", os.path.abspath(location.bucket), location.prefix, location.options)
