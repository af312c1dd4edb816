"""``analyse`` and ``authorise`` on a plain DuckDB connection, with table access given here.

The caller may read ``lake.proj1.{subjects,sessions}``; ``lake.secret.grants`` is served
but hidden from them. Nothing is published or run: DuckDB only parses.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from flight_server.engine import ErrorKind, QueryError
from flight_server.engine.guard import (
    StatementBounds,
    TableAccess,
    analyse,
    authorise,
    table_key,
)

READABLE = {table_key("lake", "proj1", "subjects"), table_key("lake", "proj1", "sessions")}
SERVED = READABLE | {table_key("lake", "secret", "grants")}
ACCESS = TableAccess(
    served=SERVED.__contains__,
    readable=READABLE.__contains__,
    readable_tables=lambda: sorted(READABLE),
)


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


def check(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Analyse as a call with defaults ``lake.proj1`` would, then authorise for the caller."""
    authorise(analyse(connection, sql, "lake", "proj1"), ACCESS)


def refused(connection: duckdb.DuckDBPyConnection, sql: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        check(connection, sql)
    return caught.value


def test_tables_are_named_with_every_candidate(connection: duckdb.DuckDBPyConnection) -> None:
    analysis = analyse(
        connection, "SELECT * FROM Subjects JOIN proj1.sessions USING (id)", "lake", "proj1"
    )
    assert sorted((t.written, t.candidates, t.path_like) for t in analysis.tables) == [
        ("Subjects", (("lake", "proj1", "subjects"),), False),
        # A two-part name is a schema of the default catalog or, failing that, a catalog.
        ("proj1.sessions", (("lake", "proj1", "sessions"), ("proj1", "main", "sessions")), False),
    ]


def test_without_defaults_names_resolve_in_memory_main(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    (table,) = analyse(connection, "SELECT * FROM t").tables
    assert table.candidates == (("memory", "main", "t"),)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM subjects",
        'SELECT * FROM "LAKE"."Proj1"."SUBJECTS"',
        "WITH s AS (SELECT * FROM sessions) SELECT * FROM s",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r",
        "SELECT (SELECT count(*) FROM subjects) FROM range(3)",
        "SELECT 1",
    ],
)
def test_readable_queries_pass(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    check(connection, sql)


def test_ctes_are_not_tables(connection: duckdb.DuckDBPyConnection) -> None:
    analysis = analyse(connection, "WITH grants AS (SELECT 1) SELECT * FROM grants", "lake")
    assert analysis.tables == ()


def test_a_cte_body_does_not_see_its_own_name(connection: duckdb.DuckDBPyConnection) -> None:
    # DuckDB binds ``grants`` inside its own body to the real table, so the guard must too.
    error = refused(connection, "WITH grants AS (SELECT * FROM secret.grants) SELECT 1")
    assert error.kind is ErrorKind.NOT_FOUND
    (table,) = analyse(connection, "WITH x AS (SELECT * FROM x) SELECT * FROM x", "l", "s").tables
    assert table.candidates == (("l", "s", "x"),)


def test_hidden_and_missing_tables_get_the_same_answer(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    hidden = refused(connection, "SELECT * FROM lake.secret.grants")
    missing = refused(connection, "SELECT * FROM lake.secret.grantz")
    assert hidden.kind is missing.kind is ErrorKind.NOT_FOUND
    assert hidden.message == "table lake.secret.grants does not exist"
    assert missing.message == "table lake.secret.grantz does not exist"


def test_a_name_that_may_bind_to_a_hidden_table_is_refused(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    # ``secret.grants`` could be lake.secret.grants: readable elsewhere is not enough.
    access = TableAccess(
        served=(SERVED | {table_key("secret", "main", "grants")}).__contains__,
        readable=(READABLE | {table_key("secret", "main", "grants")}).__contains__,
    )
    with pytest.raises(QueryError) as caught:
        authorise(analyse(connection, "SELECT * FROM secret.grants", "lake", "proj1"), access)
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_hints_come_from_readable_tables_only(connection: duckdb.DuckDBPyConnection) -> None:
    assert refused(connection, "SELECT * FROM subjcts").message.endswith(
        "did you mean lake.proj1.subjects?"
    )
    assert "did you mean" not in refused(connection, "SELECT * FROM lake.secret.grant").message


@pytest.mark.parametrize(
    ("sql", "kind", "words"),
    [
        ("SELECT * FROM 'data/x.parquet'", ErrorKind.PERMISSION, "reading files"),
        ("SELECT * FROM read_parquet('x.parquet')", ErrorKind.PERMISSION, "read_parquet"),
        ("SELECT current_setting('home_directory')", ErrorKind.PERMISSION, "current_setting"),
        ("SELECT getenv('HOME')", ErrorKind.PERMISSION, "getenv"),
        ("SELECT lake.proj1.f(1)", ErrorKind.PERMISSION, "functions may not name"),
        ("SELECT 1::lake.proj1.t", ErrorKind.PERMISSION, "types may not name"),
        ("SELECT * FROM a.b.c.d", ErrorKind.PERMISSION, "three parts"),
        ("SHOW TABLES", ErrorKind.PERMISSION, "SHOW"),
        ("CREATE TABLE t (i INT)", ErrorKind.PERMISSION, "read-only"),
        ("COPY subjects TO 'out.csv'", ErrorKind.PERMISSION, "read-only"),
        ("ATTACH 'x.db'", ErrorKind.PERMISSION, "read-only"),
        ("SELECT 1; SELECT 2", ErrorKind.INVALID, "one SQL statement"),
        ("SELEC 1", ErrorKind.INVALID, ""),
    ],
)
def test_forbidden_shapes(
    connection: duckdb.DuckDBPyConnection, sql: str, kind: ErrorKind, words: str
) -> None:
    error = refused(connection, sql)
    assert error.kind is kind
    assert words in error.message


def test_bounds_refuse_large_statements(connection: duckdb.DuckDBPyConnection) -> None:
    bounds = StatementBounds(max_nodes=10_000, max_selects=3)
    union = " UNION ALL ".join(["SELECT 1"] * 4)
    with pytest.raises(QueryError, match="too complex") as caught:
        analyse(connection, union, bounds=bounds)
    assert caught.value.kind is ErrorKind.INVALID
    analyse(connection, " UNION ALL ".join(["SELECT 1"] * 3), bounds=bounds)
    nested = "SELECT " + "(" * 40 + "1" + ")" * 40
    with pytest.raises(QueryError, match="too complex"):
        analyse(connection, nested, bounds=StatementBounds(max_nodes=20))


def test_analysis_does_not_depend_on_the_caller(connection: duckdb.DuckDBPyConnection) -> None:
    analysis = analyse(connection, "SELECT * FROM lake.secret.grants")
    everyone = TableAccess(served=SERVED.__contains__, readable=SERVED.__contains__)
    authorise(analysis, everyone)
    with pytest.raises(QueryError):
        authorise(analysis, ACCESS)
