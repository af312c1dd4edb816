"""Selective queries read only the files whose footer statistics allow a match.

A row-wise query on one table of many files, filtered by ``id`` or a ``parents.*``
column (``=``, ``IN``, ``BETWEEN``, ``<``, ``>``, ANDed), skips the files whose min and max
rule its terms out. Results always equal in-process DuckDB's over every file. That files
are skipped is shown without timing: the files a lookup must not read are deleted under
the running server; the lookup still answers, and a query that must read them fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import write_scan_table
from flight_server.engine import QueryContext
from flight_server.runtime import Runtime
from tests.support import running_server

#: Files of the table and rows of each: file ``f`` holds ``n`` from ``10 f`` to ``10 f + 9``.
FILES, ROWS = 24, 10
TABLE = "local.lookups.scan"
#: The files left once the others are deleted (``subject`` 1 is files 4 to 7).
KEPT = (0, 4, 5, 6, 7)
_START = datetime(2024, 1, 1, tzinfo=UTC)


def _rows(index: int) -> pa.Table:
    numbers = range(ROWS * index, ROWS * (index + 1))
    return pa.table(
        {
            "id": pa.array([f"k{n:04d}" for n in numbers]),
            "parents.subject": pa.array([f"sub-{index // 4:02d}"] * ROWS),
            "parents.session": pa.array([f"ses-{n:04d}" if n % 3 else None for n in numbers]),
            # Bounds are kept for ``id`` and ``parents.*`` only: these test their types.
            "parents.number": pa.array(numbers, pa.int64()),
            "parents.created": pa.array(
                [_START + timedelta(hours=n) for n in numbers], pa.timestamp("us", "UTC")
            ),
            "parents.day": pa.array([date(2024, 1, 1) + timedelta(days=index)] * ROWS),
            "n": pa.array(numbers, pa.int64()),
            "value": pa.array([n / 7 for n in numbers]),
        }
    )


def _write(root: Path) -> list[Path]:
    """A one-table dataset (table ``scan``) whose file ``i`` holds ``_rows(i)``."""
    dataset = write_scan_table(str(root), rows=1, files=1)
    (original,) = dataset.latest.tables["scan"].files
    folder = Path(original).parent
    Path(original).unlink()
    files = [folder / f"part-{index:03d}.parquet" for index in range(FILES)]
    for index, path in enumerate(files):
        pq.write_table(_rows(index), path, row_group_size=4)  # statistics of several groups
    return files


def _settings(root: Path, **sections: dict[str, int]) -> Settings:
    return Settings(datasets=[DatasetSettings(name="lookups", location=str(root))], **sections)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _write(tmp_path_factory.mktemp("pruning") / "lookups")


@pytest.fixture(scope="module")
def uri(files: list[Path]) -> Iterator[str]:
    with running_server(_settings(files[0].parents[4])) as served:
        yield served


@dataclass(frozen=True)
class Deleted:
    """Servers over a copy of the dataset of which only the ``KEPT`` files remain."""

    whole: str  # queries answered with one ticket (the table is under two parts' rows)
    split: str  # queries split into parts (``partition_min_rows`` 1)


@pytest.fixture(scope="module")
def deleted(files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deleted]:
    root = tmp_path_factory.mktemp("deleted") / "lookups"
    shutil.copytree(files[0].parents[4], root)
    no_cache = {"result_cache_bytes": 0}
    with (
        running_server(_settings(root, engine=no_cache)) as whole,
        running_server(_settings(root, engine=no_cache, limits={"partition_min_rows": 1})) as split,
    ):
        for served in (whole, split):
            # A table's view is made, and its columns read, on first use: each binds a scan
            # of every file once. Lookups after that open only the files that may match.
            _query(served, f"SELECT * FROM {TABLE} WHERE id = 'warm-up'")
        for path in sorted(root.rglob("part-*.parquet")):
            if int(path.stem.split("-")[1]) not in KEPT:
                path.unlink()
        yield Deleted(whole, split)


def _reference(files: list[Path], sql: str) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    listed = ", ".join(f"'{path}'" for path in files)
    con.execute(f"CREATE VIEW scan AS SELECT * FROM read_parquet([{listed}])")
    return con.sql(sql.replace(TABLE, "scan")).to_arrow_table()


def _query(uri: str, sql: str) -> pa.Table:
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def _split(uri: str, sql: str) -> tuple[int, pa.Table]:
    """The endpoints of ``sql`` and their rows together."""
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        partitions, schema = cur.adbc_execute_partitions(sql)
        parts = []
        for partition in partitions:
            cur.adbc_read_partition(partition)
            parts.append(cur.fetch_arrow_table())
    return len(partitions), pa.concat_tables(parts) if parts else schema.empty_table()


#: Lookups whose matches all lie in the ``KEPT`` files.
PRUNED = [
    f"SELECT * FROM {TABLE} WHERE id = 'k0053'",
    f"SELECT id, n FROM {TABLE} WHERE \"parents.subject\" = 'sub-01'",
    f'SELECT * FROM {TABLE} WHERE "parents.number" BETWEEN 45 AND 61',
    f'SELECT * FROM {TABLE} WHERE "parents.number" IN (3, 77) AND value > 0',
    f'SELECT * FROM {TABLE} WHERE 45 < "parents.number" AND "parents.number" <= 52',
    f"SELECT n FROM {TABLE} AS t WHERE t.id >= 'k0071' AND t.\"parents.number\" < '73'",
    f"SELECT * FROM {TABLE} WHERE \"parents.created\" >= '2024-01-03 16:00:00+00' AND n < 80"
    " AND \"parents.created\" < '2024-01-04 08:00:00+00'",
    f"SELECT * FROM {TABLE} WHERE \"parents.day\" = '2024-01-06'",
    f"SELECT * FROM {TABLE} WHERE \"parents.session\" IN ('ses-0052', 'ses-0071')",
    f"SELECT * FROM {TABLE} WHERE id = 'nothing'",
]
#: Queries whose pruning is not decidable from bounds (or that aggregate): every file.
UNPRUNED = [
    f"SELECT * FROM {TABLE} WHERE lower(id) = 'k0053'",
    f"SELECT * FROM {TABLE} WHERE id = 'k0053' OR id = 'k0054'",
    f'SELECT * FROM {TABLE} WHERE NOT "parents.number" BETWEEN 10 AND 239',
    f'SELECT * FROM {TABLE} WHERE "parents.number" = 53.0',
    f"SELECT * FROM {TABLE} WHERE CAST(\"parents.number\" AS VARCHAR) = '53'",
    f"SELECT * FROM {TABLE} WHERE \"parents.created\" < TIMESTAMP '2024-01-01 03:00:00'",
    f"SELECT * FROM {TABLE} WHERE n = 53",
    f"SELECT * FROM {TABLE} WHERE value < 1",
    f"SELECT count(*) AS c FROM {TABLE} WHERE id = 'k0053'",
]


@pytest.mark.parametrize("sql", PRUNED + UNPRUNED)
def test_results_equal_duckdb_over_every_file(uri: str, files: list[Path], sql: str) -> None:
    expected = _reference(files, sql)
    got = _query(uri, sql)
    assert got.schema == expected.schema
    order = [(name, "ascending") for name in ("n", "c") if name in got.schema.names]
    assert got.sort_by(order).equals(expected.sort_by(order))


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM {TABLE} WHERE id = NULL",
        f'SELECT * FROM {TABLE} WHERE "parents.session" IS NULL AND n < 30',
        f"SELECT * FROM {TABLE} WHERE id IN ('k0001', 'k0150', 'zzz') AND \"parents.number\" > -5",
        f"SELECT * FROM {TABLE} WHERE \"parents.day\" BETWEEN '2024-01-02' AND '2024-01-04'",
        f"SELECT * FROM {TABLE} WHERE id = 'k0053' AND \"parents.number\" = 54",
        f"SELECT * FROM {TABLE} WHERE \"parents.created\" > '2024-01-02 05:00:00-03'",
        f"SELECT * FROM {TABLE} WHERE \"PARENTS.SUBJECT\" < 'sub-02' AND ID > 'k0012'",
    ],
)
def test_edge_cases_equal_duckdb(uri: str, files: list[Path], sql: str) -> None:
    expected = _reference(files, sql)
    got = _query(uri, sql)
    assert got.schema == expected.schema
    assert got.sort_by("n").equals(expected.sort_by("n"))


def test_a_literal_that_is_not_of_the_columns_type_fails_as_in_duckdb(uri: str) -> None:
    with pytest.raises(adbc_driver_manager.Error, match="Could not convert"):
        _query(uri, f"SELECT * FROM {TABLE} WHERE \"parents.number\" = 'five'")


@pytest.mark.parametrize("sql", PRUNED)
def test_lookups_read_only_files_that_may_match(
    deleted: Deleted, files: list[Path], sql: str
) -> None:
    expected = _reference([files[index] for index in KEPT], sql)
    got = _query(deleted.whole, sql)
    assert got.sort_by("n").equals(expected.sort_by("n"))
    endpoints, parts = _split(deleted.split, sql)
    assert parts.sort_by("n").equals(expected.sort_by("n"))
    assert endpoints <= len(KEPT)


@pytest.mark.parametrize("sql", UNPRUNED)
def test_queries_bounds_cannot_decide_read_every_file(deleted: Deleted, sql: str) -> None:
    with pytest.raises(adbc_driver_manager.Error, match="a data file is gone"):
        _query(deleted.whole, sql)


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        (f"SELECT * FROM {TABLE} LIMIT {ROWS}", ROWS),
        (f"SELECT n, id FROM {TABLE} LIMIT 4 OFFSET 3", 4),
    ],
)
def test_a_bare_limit_reads_only_the_first_files(
    deleted: Deleted, files: list[Path], sql: str, rows: int
) -> None:
    """File 0, which is kept, holds the rows a bare LIMIT needs: nothing else is opened."""
    got = _query(deleted.whole, sql)
    expected = _reference(files, sql)
    assert got.schema == expected.schema and got.num_rows == rows
    every = _reference(files, sql.split(" LIMIT ")[0]).to_pylist()
    assert all(row in every for row in got.to_pylist())
    # A LIMIT past the first file's rows needs file 1, which is gone.
    with pytest.raises(adbc_driver_manager.Error, match="a data file is gone"):
        _query(deleted.whole, f"SELECT * FROM {TABLE} LIMIT {ROWS + 1}")


def test_a_new_publish_never_meets_an_earlier_rewrite(tmp_path: Path) -> None:
    """A lookup's pruned statement is kept for its text and published table; once a
    refresh publishes the table anew (here: a file gone), the lookup is pruned afresh."""
    files = _write(tmp_path / "lookups")
    runtime = Runtime(_settings(files[0].parents[4], engine={"result_cache_bytes": 0}))
    runtime.refresh()
    lookup = f"SELECT n FROM {TABLE} WHERE id = 'k0055'"  # file 5 only
    try:
        assert _run(runtime, lookup).to_pylist() == [{"n": 55}]
        files[5].unlink()
        runtime.refresh()
        # An earlier rewrite would still scan file 5 and fail on it: the new one reads none.
        assert _run(runtime, lookup).num_rows == 0
    finally:
        runtime.stop()


def _run(runtime: Runtime, sql: str) -> pa.Table:
    execution = runtime.engine.start(sql, QueryContext())
    try:
        schema = execution.open()
        batches = []
        while (batch := execution.next_batch()) is not None:
            batches.append(batch)
        return pa.Table.from_batches(batches, schema)
    finally:
        execution.close()


#: Columns DuckDB names by their text as written, which its rendering of the query (what a
#: pruned or split query runs) does not always give back: ``n::"INT"`` is named
#: ``CAST(n AS INT)``, its rendering parses back as ``CAST(n AS INTEGER)`` (an attack run).
NAMED_BY_TEXT = [
    f'SELECT n::"INT", n::"bigint" + 1, value::"real", id FROM {TABLE} WHERE id >= \'k0230\'',
    f'SELECT COLUMNS(\'^(n|value)$\')::"INT", id FROM {TABLE} WHERE "parents.number" <= 5',
    f'SELECT n::"INT" AS kept, lower(id), n::"Integer" FROM {TABLE} WHERE n >= 0',
    f'SELECT n::"INT" FROM {TABLE} LIMIT 3',
]


@pytest.mark.parametrize("sql", NAMED_BY_TEXT)
def test_columns_named_by_their_text_keep_duckdbs_names_whole_and_in_parts(
    uri: str, files: list[Path], sql: str
) -> None:
    names = _reference(files, sql).schema.names
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        assert cur.adbc_execute_schema(sql).names == names  # the plan
        cur.execute(sql)
        assert cur.fetch_arrow_table().schema.names == names  # the run
    split = _settings(files[0].parents[4], limits={"partition_min_rows": 1})
    with (
        running_server(split) as split_uri,
        flight_sql.connect(split_uri, autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        partitions, schema = cur.adbc_execute_partitions(sql)
        assert schema.names == names
        for partition in partitions:
            cur.adbc_read_partition(partition)
            assert cur.fetch_arrow_table().schema.names == names
