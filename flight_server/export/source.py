"""What an export reads: a federated dataset's tables or a dataset's latest version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from flight_server.catalog.federated import REPORT_TABLE
from flight_server.catalog.model import Dataset, SkippedDataset, Snapshot

_Named = TypeVar("_Named", Dataset, SkippedDataset)


class SourceError(LookupError):
    """No federated or served dataset by that name."""


@dataclass(frozen=True)
class Source:
    """The schema to export, its tables, and the provenance of its rows."""

    catalog: str
    name: str
    federated: bool
    tables: tuple[str, ...]
    origins: tuple[dict[str, object], ...]
    criteria: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def find_source(snapshot: Snapshot, ref: str) -> Source:
    """``ref`` is ``catalog.name``, ``fw://group/project``, or a federated or dataset's name.

    A bare name must name one dataset only; a skipped one answers with why it was skipped.
    """
    for schema in snapshot.derived:
        if ref in (schema.name, f"{schema.catalog}.{schema.name}"):
            return Source(
                schema.catalog,
                schema.name,
                True,
                tuple(t.name for t in schema.tables if t.name != REPORT_TABLE),
                tuple(_origin(d, centre) for centre, d in schema.sources.items()),
                schema.criteria,
            )
    for dataset in _matching(snapshot.datasets, ref):
        tables = tuple(sorted(dataset.latest.tables))
        return Source(dataset.catalog, dataset.name, False, tables, (_origin(dataset),))
    for skipped in _matching(snapshot.skipped, ref):
        raise SourceError(f"{ref} is not served: {skipped.reason}")
    raise SourceError(f"{ref} is neither a federated nor a served dataset")


def _matching(candidates: Iterable[_Named], ref: str) -> list[_Named]:
    """Those ``ref`` names: by ``catalog.name`` or ``fw://catalog/name``, else by bare name."""
    candidates = list(candidates)
    exact = [
        c for c in candidates if ref in (f"{c.catalog}.{c.name}", f"fw://{c.catalog}/{c.name}")
    ]
    if exact:
        return exact
    bare = [c for c in candidates if c.name == ref]
    if len(bare) > 1:
        choices = ", ".join(sorted(f"{c.catalog}.{c.name}" for c in bare))
        raise SourceError(f"{ref} names several datasets; say which: {choices}")
    return bare


def _origin(dataset: Dataset, centre: str | None = None) -> dict[str, object]:
    """Where rows came from: dataset, location and the exact version read."""
    version = dataset.latest
    origin: dict[str, object] = {"centre": centre} if centre else {}
    return origin | {
        "dataset": f"{dataset.catalog}.{dataset.name}",
        "location": dataset.location.display(),
        "version": version.id,
        "version_label": version.label,
        "created": version.created.isoformat() if version.created else None,
    }
