"""The results cache's keys, budget and expiry, on a plain DuckDB connection.

Keys are made as the engine makes them (a cursor to parse on, the tables a query reads);
results are recorded and replayed through the engine's ``Execution`` over plain SQL.
"""

from __future__ import annotations

import datetime
import decimal
import functools
from collections.abc import Iterator
from contextlib import suppress

import duckdb
import pyarrow as pa
import pytest

from flight_server.engine import ErrorKind, Execution, QueryError, partitioning, result_cache
from flight_server.engine.guard import table_key
from flight_server.engine.result_cache import ResultCache, ResultKey, volatile_functions
from tests.unit.clock import Clock

SESSIONS = table_key("lake", "proj1", "sessions")
FILES = table_key("lake", "proj1", "files")
DEFAULTS = (None, None)
NO_PARAMETERS: list[None] = [None]


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(result_cache, "time", clock)
    return clock


@functools.cache
def volatile() -> frozenset[str]:
    with duckdb.connect() as connection:
        return volatile_functions(connection)


def cache(
    connection: duckdb.DuckDBPyConnection,
    max_bytes: int = 1 << 20,
    max_result_bytes: int = 1 << 20,
    ttl: float = 60.0,
) -> ResultCache:
    made = ResultCache(max_bytes, max_result_bytes, ttl, volatile())
    made.published({SESSIONS: "sessions@v1", FILES: "files@v1"})
    return made


def key_of(
    made: ResultCache,
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    rows: list | None = None,
    reads: tuple = (SESSIONS,),
) -> ResultKey | None:
    parsed = functools.partial(partitioning.parse, connection.cursor(), sql)
    return made.key(parsed, sql, DEFAULTS, rows or NO_PARAMETERS, reads)


def run(
    made: ResultCache,
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    reads: tuple = (SESSIONS,),
    batch_rows: int = 1024,
) -> pa.Table:
    """``sql`` streamed to its end as the engine streams it: replayed if held, else recorded."""
    key = key_of(made, connection, sql, reads=reads)
    assert key is not None, sql
    held = made.get(key)
    if held is not None:
        execution = Execution.replaying(held)
    else:
        steps = [(sql, None)]
        execution = Execution(connection.cursor(), steps, batch_rows, (), made.recording(key))
    try:
        schema = execution.open()
        return pa.Table.from_batches(list(iter(execution.next_batch, None)), schema)
    finally:
        execution.close()


# -- what is kept ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT random()",
        "SELECT x.random() FROM (SELECT 1 AS x)",
        "SELECT uuid(), 1",
        "SELECT gen_random_uuid()",
        "SELECT now()",
        "SELECT today()",
        "SELECT current_date",
        "SELECT current_timestamp",
        "SELECT CURRENT_TIME",
        "SELECT localtimestamp",
        "SELECT current_localtimestamp()",
        "SELECT get_current_timestamp()",
        "SELECT transaction_timestamp()",
        "SELECT ago(INTERVAL 1 DAY)",  # a macro over current_timestamp
        "SELECT setseed(0.5)",
        "SELECT count(*) FROM range(10) WHERE range < 10 * random()",
        "WITH r AS (SELECT random() AS v) SELECT v FROM r",
        "SELECT list_transform([1, 2], x -> x + random())",
        "SELECT * FROM range(100) USING SAMPLE 10%",
        "SELECT * FROM range(100) TABLESAMPLE 10%",
        "SELECT * FROM range(100) USING SAMPLE 10 ROWS (reservoir, 42)",
    ],
)
def test_results_that_may_change_between_runs_are_never_keyed(
    connection: duckdb.DuckDBPyConnection, sql: str
) -> None:
    assert key_of(cache(connection), connection, sql) is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'random', 'now()' AS current_date_text",
        "SELECT date_trunc('day', TIMESTAMP '2024-05-01 10:00:00')",
        "SELECT abs(-1), upper('x'), sum(range) FROM range(10)",
        "SELECT range AS now FROM range(3)",
        "SELECT now, stats FROM (SELECT 1 AS now, 2 AS stats)",  # columns, not calls
        "SELECT histogram(range % 3) FROM range(10)",
    ],
)
def test_stable_results_are_keyed(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert key_of(cache(connection), connection, sql) is not None


def test_only_whitespace_and_trailing_semicolons_fold_together(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    made = cache(connection)
    plain = key_of(made, connection, "SELECT 'a' AS x")
    assert key_of(made, connection, "  SELECT 'a' AS x ;; \n") == plain
    assert key_of(made, connection, "SELECT 'A' AS x") != plain  # literals are case-sensitive
    assert key_of(made, connection, "select 'a' AS x") != plain  # not lowercased at all


def test_parameters_that_bind_differently_key_differently(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    made = cache(connection)
    values = [1, True, 1.0, "1", b"1", decimal.Decimal("1.0"), decimal.Decimal("1.00")]
    values += [datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1), None, [1], (1,)]
    keys = {key_of(made, connection, "SELECT ?", [[value]]) for value in values}
    assert None not in keys and len(keys) == len(values)
    assert key_of(made, connection, "SELECT ?", [[1], [2]]) != key_of(
        made, connection, "SELECT ?", [[2], [1]]
    )
    assert key_of(made, connection, "SELECT ?", [[object()]]) is None


def test_keys_name_the_identity_of_each_table_read(connection: duckdb.DuckDBPyConnection) -> None:
    made = cache(connection)
    sql = "SELECT 1"
    both = key_of(made, connection, sql, reads=(FILES, SESSIONS, FILES))
    assert both is not None and both.tables == ((FILES, "files@v1"), (SESSIONS, "sessions@v1"))
    assert key_of(made, connection, sql, reads=(SESSIONS,)) != both
    unpublished = table_key("lake", "proj1", "subjects")
    assert key_of(made, connection, sql, reads=(unpublished,)) is None


# -- publishing -----------------------------------------------------------------------------


def test_publishing_a_new_version_drops_its_results_and_keeps_the_others(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    made = cache(connection)
    run(made, connection, "SELECT 1 AS s", reads=(SESSIONS,))
    run(made, connection, "SELECT 2 AS f", reads=(FILES,))
    assert made.stats().results == 2
    made.publishing()
    assert key_of(made, connection, "SELECT 2 AS f", reads=(FILES,)) is None  # mid-publish
    made.published({SESSIONS: "sessions@v2", FILES: "files@v1"})
    assert made.stats().results == 1
    old = ResultKey("SELECT 1 AS s", None, None, "[None]", ((SESSIONS, "sessions@v1"),))
    assert made.get(old) is None
    kept = key_of(made, connection, "SELECT 2 AS f", reads=(FILES,))
    assert kept is not None and made.get(kept) is not None


def test_a_result_that_began_before_a_publish_is_not_stored(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    """It may have bound the views the publish put in place, under the old identities."""
    made = cache(connection)
    sql = "SELECT range FROM range(10)"
    key = key_of(made, connection, sql)
    assert key is not None
    execution = Execution(connection.cursor(), [(sql, None)], 1024, (), made.recording(key))
    execution.open()
    made.publishing()
    made.published({SESSIONS: "sessions@v1", FILES: "files@v1"})  # the same identities
    assert list(iter(execution.next_batch, None))
    execution.close()
    assert made.stats().results == 0
    run(made, connection, sql)
    assert made.stats().results == 1


# -- recording and replaying ----------------------------------------------------------------


def test_a_replay_is_the_recorded_stream_exactly(connection: duckdb.DuckDBPyConnection) -> None:
    made = cache(connection)
    sql = (
        "SELECT range AS i, range::VARCHAR AS s, (range / 7)::DECIMAL(10, 2) AS d, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(range) AS t, [range, NULL] AS l, "
        "{'a': range} AS r FROM range(5000) ORDER BY range DESC"
    )
    first = run(made, connection, sql, batch_rows=1024)
    assert (made.stats().results, made.stats().hits) == (1, 0)
    again = run(made, connection, sql, batch_rows=1024)
    assert made.stats().hits == 1
    assert again.schema.equals(first.schema, check_metadata=True)
    assert again.equals(first)
    assert [b.num_rows for b in again.to_batches()] == [b.num_rows for b in first.to_batches()]


def test_a_stream_stopped_before_its_end_is_not_stored(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    made = cache(connection)
    sql = "SELECT range FROM range(10000)"
    for stop in (Execution.interrupt, Execution.close):
        key = key_of(made, connection, sql)
        assert key is not None
        execution = Execution(connection.cursor(), [(sql, None)], 1024, (), made.recording(key))
        assert execution.next_batch() is not None
        stop(execution)
        if stop is Execution.interrupt:
            with pytest.raises(QueryError) as stopped:
                execution.next_batch()
            assert stopped.value.kind == ErrorKind.CANCELLED
        execution.close()
        assert made.stats().results == 0
    assert run(made, connection, sql).num_rows == 10000
    assert made.stats().results == 1  # the same stream, read to its end, is


def test_a_stream_that_fails_is_not_stored(connection: duckdb.DuckDBPyConnection) -> None:
    made = cache(connection)
    sql = (
        "SELECT CAST(CASE WHEN range < 9000 THEN range::VARCHAR ELSE 'x' END AS INTEGER) AS n "
        "FROM range(10000)"
    )
    key = key_of(made, connection, sql)
    assert key is not None
    execution = Execution(connection.cursor(), [(sql, None)], 1024, (), made.recording(key))
    with pytest.raises(QueryError):
        list(iter(execution.next_batch, None))
    with suppress(QueryError):
        execution.next_batch()  # a caller pulling again
    execution.close()
    assert made.stats().results == 0


def test_a_result_over_the_limit_is_streamed_whole_and_not_stored(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    made = cache(connection, max_result_bytes=64 * 1024)
    big = run(made, connection, "SELECT range FROM range(20000)")  # 160 kB
    assert big.num_rows == 20000 and made.stats().results == 0
    run(made, connection, "SELECT range FROM range(2000)")
    assert made.stats().results == 1


def test_the_budget_evicts_the_least_recently_used(connection: duckdb.DuckDBPyConnection) -> None:
    made = cache(connection, max_bytes=100 * 1024)
    queries = [f"SELECT range + {n} AS v FROM range(4000)" for n in range(4)]  # 32 kB each
    for sql in queries[:3]:
        run(made, connection, sql)
    assert made.stats().results == 3
    run(made, connection, queries[0])  # used again: the second is now the oldest
    run(made, connection, queries[3])
    stats = made.stats()
    assert stats.results == 3 and stats.bytes <= 100 * 1024
    hits = stats.hits
    for sql in (queries[0], queries[2], queries[3]):
        run(made, connection, sql)
    assert made.stats().hits == hits + 3
    run(made, connection, queries[1])
    assert made.stats().hits == hits + 3  # evicted: run again


def test_results_expire(connection: duckdb.DuckDBPyConnection, clock: Clock) -> None:
    made = cache(connection, ttl=30)
    run(made, connection, "SELECT 1 AS x")
    clock.advance(29)
    run(made, connection, "SELECT 1 AS x")
    assert made.stats().hits == 1
    clock.advance(1)
    run(made, connection, "SELECT 1 AS x")
    assert made.stats().hits == 1
    assert made.stats().results == 1  # stored again by that run


def test_a_replay_stops_when_interrupted(connection: duckdb.DuckDBPyConnection) -> None:
    made = cache(connection)
    sql = "SELECT range FROM range(5000)"
    run(made, connection, sql)
    key = key_of(made, connection, sql)
    assert key is not None
    held = made.get(key)
    assert held is not None and len(held.batches) > 1
    replay = Execution.replaying(held)
    assert replay.next_batch() is not None
    replay.interrupt()
    assert not replay.running
    with pytest.raises(QueryError) as stopped:
        replay.next_batch()
    assert stopped.value.kind == ErrorKind.CANCELLED
    replay.close()
