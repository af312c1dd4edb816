"""Which queries ``partitioning`` splits, and its rewrites, on a plain DuckDB connection."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from flight_server.engine import partitioning


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS a, range % 3 AS b, 'x' AS p FROM range(9)")
    yield con
    con.close()


@pytest.fixture(scope="module")
def excluded(connection: duckdb.DuckDBPyConnection) -> frozenset[str]:
    return partitioning.row_wise_functions_excluded(connection)


def scan(connection: duckdb.DuckDBPyConnection, excluded: frozenset[str], sql: str) -> bool:
    tree = partitioning.parse(connection, sql)
    return tree is not None and partitioning.scanned_table(tree, excluded) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t",
        "SELECT a + 1 AS c, upper(p) FROM t AS x WHERE x.b = 1 AND a IN (1, 2)",
        "SELECT list_max([a, b]) FROM t",  # a macro over lists, not an aggregate
        "SELECT unnest([a, b]) FROM t",
    ],
)
def test_row_wise_scans_split(connection, excluded, sql: str) -> None:
    assert scan(connection, excluded, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM t",
        "SELECT sum(a) FROM t",
        "SELECT geomean(a) FROM t",  # a macro that aggregates
        "SELECT geometric_mean(a) FROM t",  # a macro calling one
        "SELECT * FROM t GROUP BY ALL",
        "SELECT b FROM t GROUP BY b",
        "SELECT a FROM t QUALIFY a > 1",
        "SELECT DISTINCT a FROM t",
        "SELECT a FROM t ORDER BY a",
        "SELECT a FROM t LIMIT 1",
        "SELECT a FROM t OFFSET 1",
        "SELECT row_number() OVER () FROM t",
        "SELECT a FROM t USING SAMPLE 3",
        "SELECT a FROM t TABLESAMPLE 3",
        "SELECT a FROM t WHERE a > (SELECT 1)",
        "SELECT a FROM t WHERE EXISTS (SELECT 1)",
        "SELECT * FROM t, t AS u",
        "SELECT a FROM t UNION ALL SELECT a FROM t",
        "WITH u AS (SELECT 1) SELECT * FROM t",
        "SELECT * FROM (SELECT * FROM t)",
        "SELECT * FROM range(3)",
        "SELECT memory.main.t.a FROM memory.main.t",
        "SELECT $1 FROM t",
    ],
)
def test_everything_else_stays_whole(connection, excluded, sql: str) -> None:
    assert not scan(connection, excluded, sql)


def test_only_terms_on_partition_columns_prune(connection) -> None:
    sql = "SELECT * FROM t AS x WHERE x.p = 'y' AND (b = 1 OR p = 'z') AND upper(p) > 'A'"
    tree = partitioning.parse(connection, sql)
    assert tree is not None
    terms = partitioning.hive_conditions(tree, frozenset({"p"}))
    assert len(terms) == 2  # x.p = 'y' and upper(p) > 'A'; the OR reads b


def test_hive_values_come_from_folders() -> None:
    path = "/data/t/year=2020/modality=__HIVE_DEFAULT_PARTITION__/part=1.parquet"
    assert partitioning.hive_values(path) == {"year": "2020", "modality": None}


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT * FROM t LIMIT 10", 10),
        ("SELECT a, upper(p) FROM t AS x LIMIT 4 OFFSET 3", 7),
        ("SELECT * FROM t LIMIT 0", 0),
        ("SELECT * FROM t LIMIT 100000000000", 100_000_000_000),
        # An order, a filter, a grouping, DISTINCT, a window, a parameter, a percentage or
        # an expression: the first rows of the first files may not be an answer.
        ("SELECT * FROM t ORDER BY a LIMIT 3", None),
        ("SELECT * FROM t WHERE a > 5 LIMIT 3", None),
        ("SELECT b FROM t GROUP BY b LIMIT 1", None),
        ("SELECT count(*) FROM t LIMIT 1", None),
        ("SELECT DISTINCT b FROM t LIMIT 2", None),
        ("SELECT a, row_number() OVER () FROM t LIMIT 3", None),
        ("SELECT * FROM t LIMIT ?", None),
        ("SELECT * FROM t LIMIT 10%", None),
        ("SELECT * FROM t LIMIT 2 + 1", None),
        ("SELECT * FROM t LIMIT (SELECT 1)", None),
        ("SELECT * FROM t, t AS u LIMIT 1", None),
        ("SELECT * FROM t", None),
    ],
)
def test_limited_rows(connection, excluded, sql: str, rows: int | None) -> None:
    tree = partitioning.parse(connection, sql)
    assert tree is not None
    assert partitioning.limited_rows(tree, excluded) == rows


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x.a FROM fw_part_x AS x WHERE (a > 1)",
        'SELECT x.a FROM "fw_part_x" AS x WHERE (a > 1)',
    ],
)
def test_a_scan_is_spliced_in_for_its_placeholder(sql: str) -> None:
    spliced = partitioning.spliced(sql, "fw_part_x", "SELECT 1 AS a")
    assert spliced == "SELECT x.a FROM (SELECT 1 AS a) AS x WHERE (a > 1)"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t",  # not named
        "SELECT 'fw_part_x' AS s FROM fw_part_x",  # named twice: which one is the table?
        "SELECT a FROM fw_part_x_2",  # a longer name is another name
    ],
)
def test_a_placeholder_not_named_exactly_once_is_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="placeholder"):
        partitioning.spliced(sql, "fw_part_x", "SELECT 1 AS a")


def test_a_part_bound_to_the_placeholder_runs_over_its_scan(connection) -> None:
    tree = partitioning.parse(connection, "SELECT x.a * 2 AS d FROM t AS x(a, c) WHERE c = 1")
    placeholder = partitioning.parse(connection, "SELECT * FROM fw_part_x")
    assert tree is not None and placeholder is not None
    ((sql,),) = connection.execute(
        "SELECT json_deserialize_sql(?)", [partitioning.bound_to_part(tree, placeholder)]
    ).fetchall()
    part = partitioning.spliced(sql, "fw_part_x", "SELECT * FROM t WHERE a < 5")
    assert sorted(connection.sql(part).fetchall()) == [(2,), (8,)]
