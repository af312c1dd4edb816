"""Datasets named in the configuration (no Flywheel site involved)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from flight_server.catalog.isolation import (
    LOAD_CONCURRENCY,
    LOCAL_LOAD_CONCURRENCY,
    Skip,
    run_units,
)
from flight_server.catalog.layout import read_versions
from flight_server.catalog.model import Dataset, SkippedDataset, Snapshot
from flight_server.catalog.reuse import LoadMemo
from flight_server.config import DatasetSettings
from flight_server.storage import Location, open_location, parse_location
from flight_server.storage.base import DEFAULT_LIMITS, CallLimits, StorageError, canonical_type
from flight_server.storage.secrets import display_url

#: Seconds one configured dataset may take to load when the caller sets no bound.
DEFAULT_LOAD_SECONDS = 300.0


def load_static(
    entries: Iterable[DatasetSettings],
    default_catalog: str,
    limits: CallLimits = DEFAULT_LIMITS,
    timeout: float = DEFAULT_LOAD_SECONDS,
    memo: LoadMemo | None = None,
) -> Snapshot:
    """Open every configured dataset, each on its own; one that fails is skipped with why.

    With ``memo``, what the last refresh built is reused where listings are unchanged.
    """
    entries = list(entries)
    catalogs = [entry.catalog or default_catalog for entry in entries]
    local = all(_on_local_disk(entry.location) for entry in entries)
    outcomes = run_units(
        "dataset",
        [
            (f"{catalog}.{entry.name}", lambda e=entry, c=catalog: _open_entry(e, c, limits, memo))
            for entry, catalog in zip(entries, catalogs, strict=True)
        ],
        concurrency=LOCAL_LOAD_CONCURRENCY if local else LOAD_CONCURRENCY,
        timeout=timeout,
    )
    datasets: list[Dataset] = []
    skipped: list[SkippedDataset] = []
    for entry, catalog, outcome in zip(entries, catalogs, outcomes, strict=True):
        if isinstance(outcome, Skip):
            where = display_url(entry.location)
            skipped.append(SkippedDataset(catalog, entry.name, where, outcome.reason))
        else:
            datasets.append(outcome)
    return Snapshot(tuple(datasets), tuple(skipped))


def _on_local_disk(location: str) -> bool:
    """Whether a configured location is a local path (told from its text alone: a location
    that does not parse fails in its own unit, not here)."""
    scheme, separator, _rest = location.partition("://")
    if not separator:
        return True
    try:
        return canonical_type(scheme) == "fs"
    except StorageError:
        return False


def _open_entry(
    entry: DatasetSettings, catalog: str, limits: CallLimits, memo: LoadMemo | None
) -> Dataset:
    options = {key: secret.get_secret_value() for key, secret in entry.options.items()}
    location = _absolute(parse_location(entry.location, options))
    return open_dataset(catalog, entry.name, location, limits=limits, memo=memo)


def open_dataset(
    catalog: str,
    name: str,
    location: Location,
    project_id: str | None = None,
    limits: CallLimits = DEFAULT_LIMITS,
    memo: LoadMemo | None = None,
) -> Dataset:
    """Open the location's filesystem and read every valid version under its root.

    With ``memo``, an unchanged dataset comes back as the object the last refresh built.
    """
    filesystem = open_location(location, limits)
    versions, problems = read_versions(filesystem, location.root, memo)
    built = Dataset(
        catalog, name, location, filesystem, tuple(versions), project_id, tuple(problems)
    )
    return memo.dataset(built) if memo is not None else built


def _absolute(location: Location) -> Location:
    """Local roots are resolved against the working directory once, at load time."""
    if location.type != "fs":
        return location
    return Location("fs", os.path.abspath(location.bucket), location.prefix, location.options)
