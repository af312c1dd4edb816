"""Which statements are plain reads of one table, and how a copy answers them: parsed by
DuckDB, and each answer compared with what DuckDB returns for the same statement."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from flight_server.engine import partitioning
from flight_server.engine.plain_reads import PlainRead, plain_read, projected
from flight_server.engine.result_cache import CachedResult


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(
        'CREATE TABLE t AS SELECT range AS id, range::VARCHAR AS "Name", [range] AS l,'
        " {'x': range} AS s, TIMESTAMPTZ '2025-01-01 00:00:00+00' AS ts FROM range(5)"
    )
    yield con
    con.close()


def read_of(connection: duckdb.DuckDBPyConnection, sql: str) -> PlainRead | None:
    return plain_read(partitioning.parse(connection, sql))


@pytest.mark.parametrize(
    ("sql", "columns"),
    [
        ("SELECT * FROM t", None),
        ("FROM t", None),
        ("select * from T as x;", None),
        ("SELECT id, Name FROM t", ("id", "Name")),
        ('SELECT "ID", name, id FROM main.t', ("ID", "name", "id")),
        ("SELECT ts FROM memory.main.t", ("ts",)),
    ],
)
def test_plain_reads(connection, sql: str, columns: tuple[str, ...] | None) -> None:
    assert read_of(connection, sql) == PlainRead(columns)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t WHERE id = 1",
        "SELECT * FROM t LIMIT 2",
        "SELECT * FROM t OFFSET 1",
        "SELECT * FROM t ORDER BY id",
        "SELECT DISTINCT id FROM t",
        "SELECT id FROM t GROUP BY id",
        "SELECT count(*) FROM t",
        "SELECT id AS k FROM t",
        "SELECT t.id FROM t",
        "SELECT s.x FROM t",
        "SELECT t.* FROM t",
        "SELECT * EXCLUDE (id) FROM t",
        "SELECT * REPLACE (id + 1 AS id) FROM t",
        "SELECT * RENAME (id AS k) FROM t",
        "SELECT COLUMNS('i.*') FROM t",
        "SELECT *, 1 FROM t",
        "SELECT id + 0 FROM t",
        "SELECT * FROM t AS x(a)",
        "SELECT * FROM t TABLESAMPLE 50%",
        "SELECT * FROM t USING SAMPLE 2",
        "WITH c AS (SELECT 1) SELECT * FROM t",
        "SELECT * FROM t, t AS u",
        "SELECT * FROM (SELECT * FROM t)",
        "SELECT * FROM t UNION ALL SELECT * FROM t",
        "SELECT * FROM t QUALIFY true",
        "SELECT * FROM range(3)",
        "SELECT 1",
    ],
)
def test_anything_more_is_not_plain(connection, sql: str) -> None:
    assert read_of(connection, sql) is None


def test_a_statement_duckdb_cannot_serialise_is_not_plain() -> None:
    assert plain_read(None) is None


@pytest.mark.parametrize(
    "sql", ["SELECT * FROM t", "SELECT Name, ID FROM t", "SELECT l, s, ts, id, l FROM t"]
)
def test_the_copy_answers_as_duckdb_does(connection, sql: str) -> None:
    whole = connection.sql("SELECT * FROM t").to_arrow_table()
    copy = CachedResult(whole.schema, tuple(whole.to_batches(max_chunksize=2)), whole.nbytes)
    read = read_of(connection, sql)
    assert read is not None
    answer = projected(copy, read)
    assert answer is not None
    expected = connection.sql(sql).to_arrow_table()
    assert answer.schema.equals(expected.schema, check_metadata=True)
    assert pa.Table.from_batches(answer.batches, answer.schema).equals(expected)


def test_a_name_that_is_not_one_column_is_left_to_duckdb(connection) -> None:
    whole = connection.sql("SELECT 1 AS a, 2 AS b, 3 AS B").to_arrow_table()
    copy = CachedResult(whole.schema, tuple(whole.to_batches()), whole.nbytes)
    assert projected(copy, PlainRead(("a",))) is not None
    assert projected(copy, PlainRead(("c",))) is None  # no such column
    assert projected(copy, PlainRead(("b",))) is None  # two fold alike
