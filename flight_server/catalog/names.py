"""One dataset per served name, as DuckDB tells names apart.

DuckDB compares names without regard to ASCII case, so ``proj`` and ``PROJ`` would be one
schema: one dataset's views would replace the other's, and a grant for one would read the
other. The first dataset to claim a name keeps it; a later one, or one named like a
catalog or schema DuckDB keeps for itself, is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from flight_server.catalog.isolation import skip
from flight_server.catalog.model import SkippedDataset, Snapshot, served_schemas
from flight_server.identifiers import fold


def without_clashes(
    snapshot: Snapshot, reserved_catalogs: Collection[str], reserved_schemas: Collection[str]
) -> Snapshot:
    """``snapshot`` with every dataset and federated schema whose name is taken skipped."""
    claims = _Claims({fold(c) for c in reserved_catalogs}, {fold(s) for s in reserved_schemas})
    skipped = list(snapshot.skipped)
    datasets = []
    for dataset in snapshot.datasets:
        schemas = [name for name, _version in served_schemas(dataset)]
        reason = claims.claim(dataset.catalog, schemas)
        if reason:
            reason = skip("dataset", f"{dataset.catalog}.{dataset.name}", reason).reason
            location = dataset.location.display()
            skipped.append(
                SkippedDataset(dataset.catalog, dataset.name, location, reason, dataset.project_id)
            )
        else:
            datasets.append(dataset)
    derived = []
    for schema in snapshot.derived:
        reason = claims.claim(schema.catalog, [schema.name])
        if reason:
            reason = skip("federated dataset", f"{schema.catalog}.{schema.name}", reason).reason
            where = ", ".join(f"{c}={d.location.display()}" for c, d in schema.sources.items())
            skipped.append(SkippedDataset(schema.catalog, schema.name, where, reason))
        else:
            derived.append(schema)
    return Snapshot(tuple(datasets), tuple(skipped), tuple(derived))


class _Claims:
    """Schema names served so far, folded."""

    def __init__(self, reserved_catalogs: set[str], reserved_schemas: set[str]) -> None:
        self._reserved_catalogs = reserved_catalogs
        self._reserved_schemas = reserved_schemas
        self._claimed: set[tuple[str, str]] = set()

    def claim(self, catalog: str, schemas: Iterable[str]) -> str | None:
        """Claim every schema name for one dataset; why not, if any is taken."""
        if fold(catalog) in self._reserved_catalogs:
            return f"catalog name {catalog} is reserved by the server"
        keys = {(fold(catalog), fold(schema)): f"{catalog}.{schema}" for schema in schemas}
        for key, written in keys.items():
            if key[1] in self._reserved_schemas:
                return f"schema name {written} is reserved by the server"
            if key in self._claimed:
                # Not naming the other dataset: it may be hidden from this one's readers.
                return f"{written} is taken by another dataset (names ignore ASCII case)"
        self._claimed.update(keys)
        return None
