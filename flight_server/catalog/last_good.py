"""Previous good state wins: a dataset that served before and fails now is kept, marked stale.

A refresh that cannot reach one project's storage (or the Flywheel site) must not take
away what users were reading a minute ago. The last good dataset stays served, marked
``stale`` with the reason of the failure, until it loads again or is no longer configured
or on the site; one that never loaded stays skipped.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TypeVar

from flight_server.catalog.model import Dataset, DerivedSchema, SkippedDataset, Snapshot

log = logging.getLogger(__name__)

_Kept = TypeVar("_Kept", Dataset, DerivedSchema)


def keep_last_good(current: Snapshot, previous: Snapshot) -> Snapshot:
    """``current`` with each skipped entry that ``previous`` served put back as stale."""
    datasets = {_dataset_key(d): d for d in previous.datasets}
    derived = {(s.catalog, s.name): s for s in previous.derived}
    kept: list[Dataset] = []
    kept_derived: list[DerivedSchema] = []
    skipped: list[SkippedDataset] = []
    for entry in current.skipped:
        if (dataset := datasets.get(_skipped_key(entry))) is not None:
            kept.append(_stale(dataset, entry.reason))
        elif entry.project_id is None and (schema := derived.get((entry.catalog, entry.name))):
            kept_derived.append(_stale(schema, entry.reason))
        else:
            skipped.append(entry)
            continue
        log.warning(
            "keeping the last good %s.%s (stale): %s", entry.catalog, entry.name, entry.reason
        )
    return Snapshot((*current.datasets, *kept), tuple(skipped), (*current.derived, *kept_derived))


def stale_projects(previous: Snapshot, reason: str) -> Snapshot:
    """Every Flywheel dataset of ``previous``, stale: the site itself could not be listed."""
    return Snapshot(tuple(_stale(d, reason) for d in previous.datasets if d.project_id))


def _stale(kept: _Kept, reason: str) -> _Kept:
    """``kept`` marked stale; the same object when it already was, for the same reason, so
    a refresh that changes nothing is seen to change nothing."""
    return kept if kept.stale == reason else replace(kept, stale=reason)


def _dataset_key(dataset: Dataset) -> tuple[str, ...]:
    return (
        ("project", dataset.project_id) if dataset.project_id else (dataset.catalog, dataset.name)
    )


def _skipped_key(entry: SkippedDataset) -> tuple[str, ...]:
    return ("project", entry.project_id) if entry.project_id else (entry.catalog, entry.name)
