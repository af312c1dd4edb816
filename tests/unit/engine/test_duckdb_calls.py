"""The engine's two DuckDB calls, on a plain connection: what they run, and what they refuse."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from flight_server.engine import duckdb_calls


@pytest.fixture
def cursor() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE SEQUENCE counter")
    return connection.cursor()


def test_signature_names_and_types_without_running(cursor) -> None:
    names, types = duckdb_calls.signature(
        cursor, "SELECT nextval('counter') AS n, ?::DECIMAL(10, 2) AS d, 'x' AS s", [1]
    )
    assert (names, [str(t) for t in types]) == (
        ["n", "d", "s"],
        ["BIGINT", "DECIMAL(10,2)", "VARCHAR"],
    )
    assert cursor.execute("SELECT nextval('counter')").fetchone() == (1,)  # not advanced


def test_stream_runs_with_values_in_batches(cursor) -> None:
    reader = duckdb_calls.stream(cursor, "SELECT range + ? AS v FROM range(5000)", [10], 1000)
    batches = list(reader)
    assert len(batches) > 1
    assert pa.Table.from_batches(batches).column("v").to_pylist() == list(range(10, 5010))


def test_stream_refuses_a_script_and_runs_none_of_it(cursor) -> None:
    with pytest.raises(duckdb.InvalidInputException, match="exactly one SQL statement"):
        duckdb_calls.stream(cursor, "CREATE TABLE leaked AS SELECT 1 AS x; SELECT 2", None, 100)
    assert cursor.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'leaked'"
    ).fetchone() == (0,)
