"""The ``ListDatasets`` action: what is served, what is federated, and what was skipped and why.

Flight SQL's catalog listings cannot say why a configured dataset is missing; this
action answers in JSON so ``fw-flight-sql datasets`` and scripts can show both: served
datasets with the versions and tables left out of them (``problems``) and whether they
are a last good load kept after a failed one (``stale``), and skipped ones with reasons.
Locations and reasons are redacted here once more, whatever built them.
"""

from __future__ import annotations

import json

from flight_server.catalog.model import Dataset, DerivedSchema, Snapshot
from flight_server.storage.secrets import redact

ACTION = "ListDatasets"
DESCRIPTION = "Served, federated and skipped datasets with reasons (JSON)"


def list_datasets(snapshot: Snapshot) -> bytes:
    """The listing of ``snapshot`` (already filtered to what the caller may see)."""
    listing = {
        "datasets": [_served(d) for d in snapshot.datasets]
        + [_federated(s) for s in snapshot.derived],
        "skipped": [
            {
                "catalog": s.catalog,
                "schema": s.name,
                "location": redact(s.location),
                "reason": redact(s.reason),
            }
            for s in snapshot.skipped
        ],
    }
    listing["datasets"].sort(key=lambda entry: (entry["catalog"], entry["schema"]))
    return json.dumps(listing).encode()


def _served(dataset: Dataset) -> dict[str, object]:
    return {
        "catalog": dataset.catalog,
        "schema": dataset.name,
        "kind": "dataset",
        "versions": len(dataset.versions),
        "latest_version": dataset.latest.label,
        "tables": len(dataset.latest.tables),
        "location": dataset.location.display(),
        "stale": dataset.stale is not None,
        "stale_reason": redact(dataset.stale) if dataset.stale else None,
        "problems": [redact(problem) for problem in dataset.problems],
    }


def _federated(schema: DerivedSchema) -> dict[str, object]:
    return {
        "catalog": schema.catalog,
        "schema": schema.name,
        "kind": "federated",
        "versions": 1,
        "latest_version": None,
        "tables": len(schema.tables),
        "centres": {
            centre: {"location": d.location.display(), "version": d.latest.label}
            for centre, d in schema.sources.items()
        },
        "stale": schema.stale is not None,
        "stale_reason": redact(schema.stale) if schema.stale else None,
        "problems": [],
    }
