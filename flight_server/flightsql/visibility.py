"""What one caller may see of a snapshot: the basis of every listing and table lookup.

Listings, path descriptors, endpoint tickets and session defaults all start from this
filtered snapshot, so a hidden dataset is indistinguishable from a missing one. The rules
are the engine's for SQL: a federated dataset is visible when granted by name or when
every one of its centres is.
"""

from __future__ import annotations

from flight_server.auth import Caller
from flight_server.catalog.model import DerivedSchema, Snapshot


def visible_to(snapshot: Snapshot, caller: Caller) -> Snapshot:
    """``snapshot`` without the datasets (served or skipped) ``caller`` may not see."""
    return Snapshot(
        datasets=tuple(
            d for d in snapshot.datasets if caller.may_see(d.catalog, d.name, d.project_id)
        ),
        skipped=tuple(
            s for s in snapshot.skipped if caller.may_see(s.catalog, s.name, s.project_id)
        ),
        derived=tuple(
            s for s in snapshot.derived if caller.may_see(s.catalog, s.name, None, _centres(s))
        ),
    )


def _centres(schema: DerivedSchema) -> tuple[tuple[str, str, str | None], ...]:
    """The datasets a federated schema reads, as grants know them."""
    return tuple((d.catalog, d.name, d.project_id) for d in schema.sources.values())
