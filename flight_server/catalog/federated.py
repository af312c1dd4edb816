"""Federated datasets: the same dataset at several centres served as one de-duplicated schema.

Each table is the union by column name of that table in every centre's latest version,
with a ``center`` column naming the centre. With criteria, rows whose criteria fields are
all equal (NULLs count as equal) are duplicates and one is kept: the row of the centre
listed first in the configuration and, within that centre, the smallest row by value, so
the choice never depends on file order or parallelism. ``_duplicates`` reports, per table,
rows in, rows out, duplicates dropped and the duplicated keys (as JSON objects).

This module finds the centres and their tables' columns; the engine writes the SQL
(``engine/federation.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from flight_server.catalog.isolation import LOAD_CONCURRENCY, Skip, run_units
from flight_server.catalog.model import (
    CentreTable,
    Dataset,
    DerivedSchema,
    DerivedTable,
    FederatedUnion,
    SkippedDataset,
    Snapshot,
    Table,
    TableInput,
)
from flight_server.catalog.static import DEFAULT_LOAD_SECONDS, load_static
from flight_server.config import CentreSettings, DatasetSettings, FederatedSettings
from flight_server.storage.base import DEFAULT_LIMITS, CallLimits
from flight_server.storage.secrets import display_url

REPORT_TABLE = "_duplicates"

#: Resolves a Flywheel project id to its (group, label); raises ``LookupError`` if unknown.
ProjectLookup = Callable[[str], tuple[str, str]]

_PROJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_FW_PATH = re.compile(r"^fw://(?P<group>[^/]+)/(?P<project>[^/]+)/?$")


class FederationError(ValueError):
    """A federated dataset that cannot be served as configured."""


def federate(
    snapshot: Snapshot,
    entries: Iterable[FederatedSettings],
    lookup: ProjectLookup | None,
    limits: CallLimits = DEFAULT_LIMITS,
    timeout: float = DEFAULT_LOAD_SECONDS,
) -> Snapshot:
    """``snapshot`` plus one derived schema per federated dataset; bad ones are skipped.

    Each federated dataset is one unit (behind the boundary, with a deadline): a centre that
    cannot be reached or read skips that federated dataset only.
    """
    entries = list(entries)
    outcomes = run_units(
        "federated dataset",
        [
            (
                f"{entry.catalog}.{entry.name}",
                lambda e=entry: build(e, resolve_centres(e, snapshot, lookup, limits)),
            )
            for entry in entries
        ],
        concurrency=LOAD_CONCURRENCY,
        timeout=timeout,
    )
    derived: list[DerivedSchema] = []
    skipped = list(snapshot.skipped)
    for entry, outcome in zip(entries, outcomes, strict=True):
        if isinstance(outcome, Skip):
            where = ", ".join(f"{c}={_display(ref)}" for c, ref in entry.centres.items())
            skipped.append(SkippedDataset(entry.catalog, entry.name, where, outcome.reason))
        else:
            derived.append(outcome)
    return Snapshot(snapshot.datasets, tuple(skipped), (*snapshot.derived, *derived))


def resolve_centres(
    entry: FederatedSettings,
    snapshot: Snapshot,
    lookup: ProjectLookup | None,
    limits: CallLimits = DEFAULT_LIMITS,
) -> dict[str, Dataset]:
    """Each centre's dataset, in configuration order; any centre missing fails the whole."""
    return {
        centre: _resolve(entry, centre, ref, snapshot, lookup, limits)
        for centre, ref in entry.centres.items()
    }


def build(entry: FederatedSettings, centres: Mapping[str, Dataset]) -> DerivedSchema:
    """The derived tables of a federated dataset over resolved centres."""
    names = sorted({name for d in centres.values() for name in d.latest.tables})
    if REPORT_TABLE in names:
        raise FederationError(f"a centre has a table named {REPORT_TABLE}, the report's name")
    criteria = {table: tuple(fields) for table, fields in entry.criteria.items()}
    tables = []
    for name in names:
        present = {c: d.latest.tables[name] for c, d in centres.items() if name in d.latest.tables}
        parts = tuple(
            CentreTable(c, f"{c}/{name}", frozenset(_columns(table)))
            for c, table in present.items()
        )
        keys = criteria.get(name, ())
        missing = [f for f in keys if not any(f in part.columns for part in parts)]
        if missing:
            raise FederationError(f"criteria of {name} name unknown columns {missing}")
        inputs = {f"{c}/{name}": TableInput(centres[c], table) for c, table in present.items()}
        union = FederatedUnion(name, parts, keys, tuple(centres))
        tables.append(DerivedTable(name, (union,), inputs))
    report_inputs = {key: value for table in tables for key, value in table.inputs.items()}
    unions = tuple(union for table in tables for union in table.unions)
    tables.append(DerivedTable(REPORT_TABLE, unions, report_inputs, report=True))
    return DerivedSchema(
        entry.catalog,
        entry.name,
        tuple(tables),
        dict(centres),
        {name: keys for name, keys in criteria.items() if name in names},
    )


def _resolve(
    entry: FederatedSettings,
    centre: str,
    ref: str | CentreSettings,
    snapshot: Snapshot,
    lookup: ProjectLookup | None,
    limits: CallLimits,
) -> Dataset:
    """Find a centre's dataset among the served ones, or open its storage location."""
    if isinstance(ref, CentreSettings):
        return _open(entry, centre, ref.location, ref.options, limits)
    if match := _FW_PATH.match(ref):
        return _served(snapshot, match["group"], match["project"], ref)
    if _PROJECT_ID.match(ref):
        if lookup is None:
            raise FederationError(f"centre {centre}: project id {ref} needs a Flywheel API key")
        try:
            group, label = lookup(ref)
        except LookupError as exc:
            raise FederationError(f"centre {centre}: project {ref}: {exc}") from None
        return _served(snapshot, group, label, ref)
    if "://" in ref or "/" in ref:
        return _open(entry, centre, ref, {}, limits)
    for index, char in enumerate(ref):
        if char == "." and (found := snapshot.find(ref[:index], ref[index + 1 :])):
            return found
    raise FederationError(f"centre {centre}: {ref} is not a served dataset")


def _served(snapshot: Snapshot, catalog: str, name: str, ref: str) -> Dataset:
    found = snapshot.find(catalog, name)
    if found is None:
        raise FederationError(f"{ref} ({catalog}.{name}) is not a served dataset")
    return found


def _open(
    entry: FederatedSettings, centre: str, location: str, options: Mapping, limits: CallLimits
) -> Dataset:
    """A centre read straight from storage; it is not served on its own."""
    settings = DatasetSettings(name=f"{entry.name}:{centre}", location=location, options=options)
    opened = load_static([settings], entry.catalog, limits)
    if opened.skipped:
        raise FederationError(f"centre {centre}: {opened.skipped[0].reason}")
    return opened.datasets[0]


def _columns(table: Table) -> set[str]:
    """A table's column names: its schema groups' (from the footers), plus partitions."""
    loaded = table.loaded
    columns: set[str] = set()
    for names, group in zip(loaded.group_columns, loaded.file_groups, strict=True):
        columns |= set(names)
        if table.hive_partitioned:
            columns |= {part.split("=", 1)[0] for part in group[0].split("/") if "=" in part}
    return columns


def _display(ref: str | CentreSettings) -> str:
    """A centre reference for listings: locations without their options or credentials."""
    return display_url(ref.location if isinstance(ref, CentreSettings) else ref)
