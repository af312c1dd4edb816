"""Which WHERE terms a file's min and max can rule out, and that ruling out agrees with DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pytest

from flight_server.engine import partitioning

TYPES = {"id": "VARCHAR", "n": "BIGINT", "ts": "TIMESTAMP WITH TIME ZONE", "day": "DATE"}


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE t (id VARCHAR, n BIGINT, ts TIMESTAMP WITH TIME ZONE, day DATE, v DOUBLE)"
    )
    yield con
    con.close()


def terms(connection: duckdb.DuckDBPyConnection, where: str) -> list[partitioning.RangeTerm]:
    tree = partitioning.parse(connection, f"SELECT * FROM t AS x WHERE {where}")
    assert tree is not None
    return partitioning.range_terms(tree, TYPES)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("id = 'a'", [("id", "COMPARE_EQUAL", (("STRING", "a"),))]),
        ("'a' < x.id", [("id", "COMPARE_GREATERTHAN", (("STRING", "a"),))]),
        ("n IN (1, -2)", [("n", "COMPARE_IN", (("INTEGER", "1"), ("INTEGER", "-2")))]),
        ("n BETWEEN 1 AND '3'", [("n", "COMPARE_BETWEEN", (("INTEGER", "1"), ("STRING", "3")))]),
        (
            "day >= '2024-01-01'",
            [("day", "COMPARE_GREATERTHANOREQUALTO", (("STRING", "2024-01-01"),))],
        ),
        (
            "\"ID\" = 'a' AND v > 1 AND n <= 4",
            [
                ("n", "COMPARE_LESSTHANOREQUALTO", (("INTEGER", "4"),)),
                ("id", "COMPARE_EQUAL", (("STRING", "a"),)),
            ],
        ),
    ],
)
def test_terms_on_bounded_columns_against_literals_are_found(
    connection, where: str, expected: list[tuple[str, str, tuple[tuple[str, str], ...]]]
) -> None:
    found = [(t.column, t.comparison, t.literals) for t in terms(connection, where)]
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize(
    "where",
    [
        "id = 'a' OR id = 'b'",  # OR
        "NOT id = 'a'",
        "id <> 'a'",
        "id NOT IN ('a')",
        "n NOT BETWEEN 1 AND 2",
        "lower(id) = 'a'",  # a function of the column
        "CAST(n AS VARCHAR) = '1'",
        "id COLLATE nocase = 'a'",
        "id = 'a' COLLATE nocase",
        "n = 1.5",  # a decimal literal: compared as a decimal
        "n = NULL",
        "id = 1",  # an integer literal on a string column
        "ts < TIMESTAMP '2024-01-01'",  # a cast: compared in its own type
        "v = 1",  # no bounds kept for it
        "n = n",
        "id IN ('a', upper('b'))",
        "other.id = 'a'",  # not the scanned table's column
    ],
)
def test_everything_else_is_left_to_duckdb(connection, where: str) -> None:
    assert terms(connection, where) == []


# Files as (min, max) per column, and the rows between them DuckDB is asked about.
FILES = {
    "id": [("a", "b"), ("k0010", "k0019"), ("é", "ü"), ("A", "Z")],
    "n": [(-5, 5), (10, 19), (100, 100)],
    "day": [(date(2024, 1, 1), date(2024, 1, 5)), (date(2023, 12, 30), date(2023, 12, 31))],
    "ts": [
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 12, tzinfo=UTC)),
        (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)),
    ],
}
WHERES = [
    "id = 'a'", "id = 'aa'", "id = 'c'", "id < 'a'", "id <= 'a'", "id > 'b'", "id >= 'b'",
    "id IN ('k0015', 'z')", "id BETWEEN 'k0020' AND 'k9'", "id = 'ö'", "id > 'ä'", "id = 'a '",
    "n = 5", "n = 6", "n < -5", "n <= -5", "n > 19", "n >= 19", "n = '10'", "n IN (0, 100)",
    "n BETWEEN 6 AND 9", "n BETWEEN 20 AND 99", "n = 9223372036854775808", "n > -9999999999999",
    "day = '2024-01-05'", "day > '2024-01-05'", "day BETWEEN '2023-12-31' AND '2024-01-01'",
    "ts = '2024-01-01 12:00:00+00'", "ts > '2024-01-01 12:00:00+00'",
    "ts < '2024-01-01 01:00:00+01'", "ts <= '2024-01-01 01:00:00+01'", "ts = '2024-01-02'",
]  # fmt: skip


def typed(connection: duckdb.DuckDBPyConnection, kind: str, text: str, type_name: str) -> object:
    """A literal as the engine compares it: integers as written, strings cast by DuckDB."""
    if kind == "INTEGER":
        return int(text)
    result = connection.sql(f"SELECT CAST(? AS {type_name})", params=[text]).to_arrow_table()
    return result.column(0)[0].as_py()


@pytest.mark.parametrize("where", WHERES)
def test_a_file_is_ruled_out_only_when_duckdb_finds_no_row_in_its_range(
    connection, where: str
) -> None:
    (term,) = terms(connection, where)
    type_name = TYPES[term.column]
    test = partitioning.bounds_test(
        term, [typed(connection, kind, text, type_name) for kind, text in term.literals]
    )
    assert test is not None
    for low, high in FILES[term.column]:
        # Every value a file may hold at its bounds, and between for the integers.
        inside = [low, high] + (list(range(low, high + 1)) if term.column == "n" else [])
        rows = ", ".join(f"(CAST(? AS {type_name}))" for _ in inside)
        matching = connection.execute(
            f"SELECT count(*) FROM (VALUES {rows}) AS x({term.column}) WHERE {where}", inside
        ).fetchone()
        ruled_out = not test(low, high)
        if matching and matching[0]:
            assert not ruled_out, (where, low, high)
        elif term.column == "n":  # every value between was asked: ruling out is exact
            assert ruled_out, (where, low, high)


def test_bounds_of_another_kind_rule_out_nothing(connection) -> None:
    (term,) = terms(connection, "n = 5")
    test = partitioning.bounds_test(term, [5])
    assert test is not None and not test(6, 9)
    assert test("1", "2") and test(True, True)  # a file of strings, of booleans
    (term,) = terms(connection, "ts = '2024-01-02'")
    test = partitioning.bounds_test(term, [datetime(2024, 1, 2, tzinfo=UTC)])
    naive = datetime(2024, 1, 3)
    assert test is not None and test(naive, naive)
    (term,) = terms(connection, "day = '2024-01-02'")
    test = partitioning.bounds_test(term, [date(2024, 1, 2)])
    assert test is not None and test(naive, naive)
    assert partitioning.bounds_test(term, [Decimal(1)]) is None  # HUGEINT's Python values
