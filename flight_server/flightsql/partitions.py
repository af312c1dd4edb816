"""Tables split into balanced groups of files: plain Flight paths and partitioned SQL.

Each group becomes one endpoint, so Dask or Spark workers read a table (or a query that
scans, filters and projects one table) in parallel and the endpoints together return
every row exactly once. Row counts come from parquet footers, read once per file
(dataset versions never change their files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flight_server.catalog.model import ServedTable, Snapshot
from flight_server.engine import ErrorKind, QueryError
from flight_server.identifiers import fold

MAX_ENDPOINTS = 16


def find_table(snapshot: Snapshot, path: Sequence[bytes | str]) -> ServedTable:
    """The table a ``[catalog, schema, table]`` path descriptor names."""
    parts = tuple(p.decode() if isinstance(p, bytes) else p for p in path)
    if len(parts) != 3:
        raise QueryError(
            ErrorKind.INVALID, f"a path descriptor is [catalog, schema, table], got {len(parts)}"
        )
    for served in snapshot.served_tables():
        if served.key == parts:
            return served
    raise QueryError(ErrorKind.NOT_FOUND, f"table {'.'.join(parts)} does not exist")


def find_served(snapshot: Snapshot, key: Sequence[str]) -> ServedTable | None:
    """The served table whose folded name is ``key`` (as the engine names what it reads)."""
    wanted = tuple(fold(part) for part in key)
    for served in snapshot.served_tables():
        if tuple(fold(part) for part in served.key) == wanted:
            return served
    return None


def file_groups(
    file_rows: Mapping[str, int], files: Sequence[str], max_groups: int
) -> list[list[str]]:
    """Some of a table's files (in the table's order) in at most ``max_groups`` runs of
    similar rows (``file_rows`` by path), one run per endpoint of a partitioned query."""
    return contiguous_groups([(path, file_rows[path]) for path in files], max_groups)


def contiguous_groups(
    sizes: Sequence[tuple[str, int]], max_groups: int = MAX_ENDPOINTS
) -> list[list[str]]:
    """Split files, in order, into at most ``max_groups`` runs of similar total rows.

    Read one after another (as ADBC reads endpoints), the runs give rows in file order:
    a query read in parts keeps the order it has when read whole.
    """
    count = max(1, min(max_groups, len(sizes)))
    weights = [rows for _, rows in sizes]
    if not sum(weights):
        weights = [1] * len(sizes)
    total = sum(weights)
    runs: list[list[str]] = [[] for _ in range(count)]
    before = 0
    for (path, _rows), weight in zip(sizes, weights, strict=True):
        # A file goes to the run its middle row falls in: runs stay contiguous.
        runs[min(count - 1, (2 * before + weight) * count // (2 * total))].append(path)
        before += weight
    return [run for run in runs if run]


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
