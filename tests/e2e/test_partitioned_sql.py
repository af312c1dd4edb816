"""Partitioned SQL: a row-wise scan of one table gives one endpoint per group of its files.

ADBC's ``adbc_execute_partitions`` / ``adbc_read_partition`` is the client path: the
parts of an eligible query together are exactly its plain result (schema, nulls, rows);
every other query keeps one endpoint; parts stay authorised for, and bound to, their caller.
"""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pytest

from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    LimitsSettings,
    Settings,
    StaticTokenSettings,
)
from flight_server.demo import GeneratedDataset, write_dataset
from tests.support import running_server

HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value
TOKENS = {"alice": "alice-static-token-0123456789", "bob": "bob-static-token-0123456789"}

#: Row-wise scans of one table: split by files.
ELIGIBLE = [
    "SELECT * FROM local.proj1.files",
    'SELECT f.id, f."parents.session", f.size_mb * 2 AS double_mb, f.created, '
    '"classification.Intent" FROM local.proj1.files AS f WHERE f.size > 1000 OR f.hash IS NULL',
    "SELECT *, modality || '!' AS shout FROM local.proj1.acquisitions WHERE modality = 'MR'",
    "SELECT id, weight, session_date, tags FROM LOCAL.Proj1.Sessions WHERE completed",
    "SELECT unnest(tags) AS tag, id FROM local.proj1.acquisitions",
]
#: Queries whose parts' union could differ from their result: one endpoint.
WHOLE = [
    "SELECT count(*) AS n FROM local.proj1.files",
    "SELECT modality, count(*) AS n FROM local.proj1.files GROUP BY modality",
    "SELECT id FROM local.proj1.files ORDER BY id",
    "SELECT id FROM local.proj1.files LIMIT 5",
    "SELECT DISTINCT modality FROM local.proj1.files",
    "SELECT id, row_number() OVER () AS n FROM local.proj1.files",
    "SELECT f.id FROM local.proj1.files f JOIN local.proj1.sessions s"
    ' ON f."parents.session" = s.id',
    "SELECT id FROM local.proj1.files WHERE size > (SELECT avg(size) FROM local.proj1.files)",
    "WITH x AS (SELECT id FROM local.proj1.files) SELECT * FROM x",
    "SELECT id FROM local.proj1.files UNION ALL SELECT id FROM local.proj1.sessions",
    "SELECT json_group_structure(id) AS s FROM local.proj1.files",
    "SELECT * FROM local.proj1.files USING SAMPLE 10",
]


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """Small files, so most tables span several (some with columns others lack)."""
    root = tmp_path_factory.mktemp("partitioned") / "proj1"
    return write_dataset(str(root), subjects=40, versions=1, chunk_rows=20)


@pytest.fixture(scope="module")
def uri(chunked: GeneratedDataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    other = write_dataset(str(tmp_path_factory.mktemp("other") / "proj2"), subjects=4, versions=1)
    settings = Settings(
        datasets=[
            DatasetSettings(name="proj1", location=chunked.root),
            DatasetSettings(name="proj2", location=other.root, catalog="other"),
        ],
        # Half a caller's query slots caps the endpoints: 16, more than a table has files.
        limits=LimitsSettings(
            max_concurrent_queries=64, max_queries_per_user=32, partition_min_rows=1
        ),
        auth=AuthSettings(
            tokens=[
                StaticTokenSettings(token=TOKENS["alice"], user="alice", datasets=["local"]),
                StaticTokenSettings(token=TOKENS["bob"], user="bob", datasets=["other"]),
            ]
        ),
    )
    with running_server(settings) as u:
        yield u


def connect(uri: str, who: str) -> flight_sql.Connection:
    return flight_sql.connect(uri, db_kwargs={HEADER: f"Bearer {TOKENS[who]}"}, autocommit=True)


def read_parts(cursor: flight_sql.Cursor, sql: str) -> tuple[list[pa.Table], pa.Schema]:
    partitions, schema = cursor.adbc_execute_partitions(sql)
    parts = []
    for partition in partitions:
        cursor.adbc_read_partition(partition)
        parts.append(cursor.fetch_arrow_table())
    return parts, schema


def whole(cursor: flight_sql.Cursor, sql: str) -> pa.Table:
    cursor.execute(sql)
    return cursor.fetch_arrow_table()


def sorted_rows(table: pa.Table) -> list[tuple[str, ...]]:
    return sorted(tuple(repr(v) for v in row.values()) for row in table.to_pylist())


@pytest.mark.parametrize("sql", ELIGIBLE)
def test_a_row_wise_scan_is_split_and_its_parts_are_the_result(uri: str, sql: str) -> None:
    with connect(uri, "alice") as conn, conn.cursor() as cur:
        parts, schema = read_parts(cur, sql)
        expected = whole(cur, sql)
    assert len(parts) > 1
    assert schema.equals(expected.schema)
    for part in parts:
        assert part.schema.equals(expected.schema)  # same names, types and order
    union = pa.concat_tables(parts)
    assert union.num_rows == expected.num_rows > 0
    nulls = [column.null_count for column in union.columns]
    assert nulls == [column.null_count for column in expected.columns]
    assert sorted_rows(union) == sorted_rows(expected)


def test_a_filter_selects_the_same_rows_from_every_part(uri: str) -> None:
    sql = "SELECT id, modality FROM local.proj1.acquisitions WHERE modality = 'CT'"
    with connect(uri, "alice") as conn, conn.cursor() as cur:
        parts, _schema = read_parts(cur, sql)
        expected = whole(cur, sql)
    union = pa.concat_tables(parts)
    assert set(union.column("modality").to_pylist()) == {"CT"}
    assert sorted_rows(union) == sorted_rows(expected)


@pytest.mark.parametrize("sql", WHOLE)
def test_other_queries_keep_one_endpoint(uri: str, sql: str) -> None:
    with connect(uri, "alice") as conn, conn.cursor() as cur:
        parts, schema = read_parts(cur, sql)
        expected = whole(cur, sql)
    assert len(parts) == 1
    assert parts[0].schema.equals(expected.schema) and schema.equals(expected.schema)
    assert parts[0].num_rows == expected.num_rows
    if "SAMPLE" not in sql:  # a sample's rows differ from run to run
        assert sorted_rows(parts[0]) == sorted_rows(expected)


def test_a_prepared_statement_is_split_too(uri: str) -> None:
    sql = "SELECT id, size FROM local.proj1.files WHERE size > 0"
    with connect(uri, "alice") as conn, conn.cursor() as cur:
        cur.adbc_prepare(sql)
        parts, _schema = read_parts(cur, sql)
        expected = whole(cur, sql)
    assert len(parts) > 1
    assert sorted_rows(pa.concat_tables(parts)) == sorted_rows(expected)


def test_a_hidden_table_is_still_not_found(uri: str) -> None:
    with connect(uri, "bob") as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error) as caught:
            cur.adbc_execute_partitions("SELECT * FROM local.proj1.files")
        assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND
        parts, _schema = read_parts(cur, "SELECT * FROM other.proj2.files")
        assert sum(part.num_rows for part in parts) > 0


def test_a_part_of_another_callers_query_is_refused(uri: str) -> None:
    with connect(uri, "alice") as conn, conn.cursor() as cur:
        partitions, _schema = cur.adbc_execute_partitions("SELECT * FROM local.proj1.files")
    assert len(partitions) > 1
    with connect(uri, "bob") as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="another caller") as caught:
            cur.adbc_read_partition(partitions[0])
            cur.fetch_arrow_table()
        assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT


def test_hive_partition_filters_drop_whole_endpoints(uri: str, chunked: GeneratedDataset) -> None:
    files = chunked.latest.tables["acquisitions"].files
    mr_files = [path for path in files if "/modality=MR/" in path]
    assert 1 < len(mr_files) < len(files)
    pruned = "SELECT * FROM local.proj1.acquisitions a WHERE a.modality = 'MR' AND visit_ok"
    with connect(uri, "alice") as conn, conn.cursor() as cur:
        for sql, most in [
            (pruned.replace(" AND visit_ok", ""), len(mr_files)),
            (pruned.replace("visit_ok", "series_number > 0"), len(mr_files)),
            ("SELECT * FROM local.proj1.acquisitions WHERE modality IN ('MR')", len(mr_files)),
            ("SELECT * FROM local.proj1.acquisitions WHERE modality = 'MR' OR id > ''", len(files)),
        ]:
            parts, _schema = read_parts(cur, sql)
            expected = whole(cur, sql)
            assert 1 < len(parts) <= most, sql
            assert all(part.num_rows for part in parts) or most == len(files), sql
            assert sorted_rows(pa.concat_tables(parts)) == sorted_rows(expected), sql
        none = "SELECT * FROM local.proj1.acquisitions WHERE modality = 'XR'"
        parts, schema = read_parts(cur, none)
        assert len(parts) == 1 and parts[0].num_rows == 0
        assert parts[0].schema.equals(whole(cur, none).schema) and schema.equals(parts[0].schema)


def test_endpoints_are_at_most_half_the_callers_query_slots(chunked: GeneratedDataset) -> None:
    settings = Settings(
        datasets=[DatasetSettings(name="proj1", location=chunked.root)],
        limits=LimitsSettings(max_queries_per_user=4, partition_min_rows=1),
    )
    sql = "SELECT * FROM local.proj1.files"
    with (
        running_server(settings) as uri,
        flight_sql.connect(uri, autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        parts, _schema = read_parts(cur, sql)
        expected = whole(cur, sql)
    assert len(parts) == 2
    assert pa.concat_tables(parts).equals(expected)  # runs of files, read in order


def test_parts_hold_at_least_the_minimum_rows(chunked: GeneratedDataset) -> None:
    """By default a small table is one endpoint: a lookup costs one round trip."""
    sql = "SELECT * FROM local.proj1.files"
    for minimum, most in ((None, 1), (1, 8)):
        limits = {"max_queries_per_user": 16}
        if minimum is not None:
            limits["partition_min_rows"] = minimum
        settings = Settings(
            datasets=[DatasetSettings(name="proj1", location=chunked.root)], limits=limits
        )
        with (
            running_server(settings) as uri,
            flight_sql.connect(uri, autocommit=True) as conn,
            conn.cursor() as cur,
        ):
            parts, _schema = read_parts(cur, sql)
        assert (len(parts) == 1) if most == 1 else (1 < len(parts) <= most)
