"""Plain Flight: tables named by path descriptors, split into balanced groups of files.

Each group becomes one endpoint, so Dask or Spark workers read a table in parallel and
the endpoints together return every row exactly once. Row counts come from parquet
footers, read once per file (dataset versions never change their files).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from flight_server.catalog.model import Dataset, Snapshot, Table, served_schemas
from flight_server.engine import ErrorKind, QueryError

MAX_ENDPOINTS = 16


@dataclass(frozen=True)
class TableRef:
    """A served table and where it is served."""

    path: tuple[str, str, str]
    dataset: Dataset
    table: Table


def served_tables(snapshot: Snapshot) -> Iterator[TableRef]:
    """Every table under every schema name it is served as."""
    for dataset in snapshot.datasets:
        for schema, version in served_schemas(dataset):
            for table in version.tables.values():
                yield TableRef((dataset.catalog, schema, table.name), dataset, table)


def find_table(snapshot: Snapshot, path: Sequence[bytes | str]) -> TableRef:
    """The table a ``[catalog, schema, table]`` path descriptor names."""
    parts = tuple(p.decode() if isinstance(p, bytes) else p for p in path)
    if len(parts) != 3:
        raise QueryError(
            ErrorKind.INVALID, f"a path descriptor is [catalog, schema, table], got {len(parts)}"
        )
    for ref in served_tables(snapshot):
        if ref.path == parts:
            return ref
    raise QueryError(ErrorKind.NOT_FOUND, f"table {'.'.join(parts)} does not exist")


def balanced_groups(
    sizes: Sequence[tuple[str, int]], max_groups: int = MAX_ENDPOINTS
) -> list[list[str]]:
    """Split files into at most ``max_groups`` groups of similar total rows.

    Largest files go first to the lightest group; files keep their order inside a group.
    """
    count = max(1, min(max_groups, len(sizes)))
    totals = [0] * count
    members: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i][1]):
        lightest = totals.index(min(totals))
        totals[lightest] += sizes[index][1]
        members[lightest].append(index)
    return [[sizes[i][0] for i in sorted(group)] for group in members if group]
