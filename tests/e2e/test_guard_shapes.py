"""Texts of one shape: a new text that differs from one the guard passed only in its
constants' values gets that text's analysis without a parse, and nothing else does.

The guard never reads a constant's value, so this holds only where every constant left out
of a shape parsed to a plain value; a string DuckDB reads as a table, a file, an alias or
a key must keep texts apart. The differential test below checks the premise itself: for
every text of a corpus whose analysis says a shape, texts of that shape with other values
(paths, hidden names, other numbers) get the same analysis when parsed afresh.
"""

from __future__ import annotations

import gc
import tracemalloc

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset
from flight_server.engine import ErrorKind, QueryError
from flight_server.engine.guard import Analysis, analyse, shape_of
from flight_server.runtime import Runtime
from tests.constant_variants import with_constants_swapped
from tests.e2e.test_guard import ESCAPES, HIDDEN_SPELLINGS, READABLE, alice, refused
from tests.service_support import running_service, scrape


def counts(runtime: Runtime) -> dict[str, int]:
    return runtime.engine.analysis_counts()


def passed_by(runtime: Runtime, sql: str) -> str:
    """How the guard passed ``sql`` when the engine planned it: "parsed" or "shape"."""
    before = counts(runtime)
    runtime.engine.plan(sql, alice())
    after = counts(runtime)
    (how,) = [how for how in after if after[how] != before.get(how, 0)]
    return how


def test_texts_that_differ_only_in_constant_values_share_a_shape() -> None:
    first = shape_of("SELECT a FROM t WHERE b = 'x' AND c IN (1, 2) AND d > 1.5 LIMIT 10")
    other = shape_of("SELECT a FROM t WHERE b = 'it''s' AND c IN (70, 0) AND d > .25 LIMIT 1")
    assert first is not None and first == other


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("SELECT 1", "SELECT 1.5"),  # integer and decimal: the lexer's kinds differ
        ("SELECT 'a'", "SELECT E'a'"),
        ("SELECT 'a'", "SELECT x'0a'"),
        ("SELECT 'a'", "SELECT $$a$$"),  # dollar quoting is kept as written
        ("SELECT 1 AS x", "SELECT 1 AS y"),
        ("SELECT 1 AS x", "SELECT 1 AS x\x1c"),  # a character Python strips, DuckDB does not
        ("SELECT 'a'\n'b'", "SELECT 'a' 'b'"),  # a newline joins two strings into one
        ("SELECT 1 /* a */", "SELECT 1 /* b */"),
        ("SELECT a FROM t", "SELECT a FROM u"),
        ("SELECT 1 + 2", "SELECT 1 - 2"),
        # an identifier may start with a NUL and spell anything a shape writes for a value
        ("SELECT 1", "SELECT \x00integer"),
        ("SELECT 'a'.upper()", "SELECT \x00string .upper()"),
    ],
)
def test_texts_that_may_parse_apart_have_different_shapes(one: str, other: str) -> None:
    assert shape_of(one) != shape_of(other)


def test_a_text_that_is_not_ascii_has_no_shape() -> None:
    assert shape_of("SELECT 'é'") is None


@pytest.mark.parametrize("sql", ["", "   ", "/* nothing */"])
def test_a_text_of_no_statement_is_refused_as_before(with_hidden: Runtime, sql: str) -> None:
    assert refused(with_hidden, sql).kind == ErrorKind.INVALID


@pytest.fixture(scope="module")
def parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t WHERE x = 'abc' AND 5 = 5 LIMIT 10",
        "SELECT * FROM t WHERE 'abc' = x OR y BETWEEN 1 AND 2.5",
        "SELECT * FROM t WHERE x IN ('a', 'b') AND z LIKE 'a%'",
        "SELECT 'a' || 'b', 1 + 2, '1'::INT, CAST('2' AS INT), 'a' COLLATE nocase",
        "SELECT COLUMNS('x.*') FROM t",
        "SELECT NULL, TRUE, [1, 2][1] FROM t ORDER BY 1 LIMIT 10 OFFSET 5",
        "SELECT * FROM range(10) r(x) WHERE x > 5",
    ],
)
def test_an_analysis_says_its_shape_when_every_constant_is_a_plain_value(
    parser: duckdb.DuckDBPyConnection, sql: str
) -> None:
    assert analyse(parser, sql).shape == shape_of(sql) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM 'x.parquet'",  # a replacement scan: the string is a file
        "SELECT * FROM 'sessions'",  # a table named by a string
        "SELECT x AS 'alias' FROM t",
        "SELECT * FROM t AS 'alias'",
        "SELECT {'key': 1}",
        "SELECT * EXCLUDE ('x') FROM t",
        "SELECT -5",  # the sign is folded into the value, which sits at the minus
        "SELECT DATE '2020-01-01'",
        "SELECT * FROM t USING SAMPLE 10",
        "SELECT $1 FROM t",
        "SELECT 'a'\n'b'",
    ],
)
def test_an_analysis_says_no_shape_where_a_constant_is_more_than_a_value(
    parser: duckdb.DuckDBPyConnection, sql: str
) -> None:
    assert analyse(parser, sql).shape is None


def test_a_new_lookup_of_a_known_shape_is_passed_without_a_parse(with_hidden: Runtime) -> None:
    assert passed_by(with_hidden, "SELECT label FROM sessions WHERE label = 'a' AND 1 = 1") == (
        "parsed"
    )
    assert passed_by(with_hidden, "SELECT label FROM sessions WHERE label = 'b' AND 2 = 2") == (
        "shape"
    )
    # Another default schema is another analysis: names resolve through the defaults.
    before = counts(with_hidden)["parsed"]
    refusal = refused(
        with_hidden,
        "SELECT label FROM sessions WHERE label = 'c' AND 3 = 3",
        alice("other", "proj2"),
    )
    assert refusal.kind == ErrorKind.NOT_FOUND
    assert counts(with_hidden)["parsed"] == before + 1


def test_a_string_naming_a_table_lends_nothing_to_a_string_naming_a_file(
    with_hidden: Runtime,
) -> None:
    with_hidden.engine.plan("SELECT * FROM 'sessions'", alice())
    before = counts(with_hidden)
    for sql in ("SELECT * FROM '/etc/passwd'", "SELECT * FROM 'other.proj2.sessions'"):
        with pytest.raises(QueryError) as caught:
            with_hidden.engine.plan(sql, alice())
        assert caught.value.kind in (ErrorKind.PERMISSION, ErrorKind.NOT_FOUND)
    assert counts(with_hidden)["shape"] == before["shape"]


def test_no_identifier_spells_the_shape_of_a_string_naming_a_file(with_hidden: Runtime) -> None:
    # The CTE's name is an identifier, so the text reads no table (found by an attack run:
    # its shape was once spelled like that of a string constant with nothing after it).
    with_hidden.engine.plan("WITH \x00string AS (SELECT 1) SELECT * FROM \x00string ", alice())
    error = refused(with_hidden, "WITH \x00string AS (SELECT 1) SELECT * FROM '/etc/passwd'")
    assert (error.kind, str(error)) == (ErrorKind.PERMISSION, "reading files is not allowed")


def test_the_same_shape_with_other_values_returns_its_own_rows(with_hidden: Runtime) -> None:
    labels = sorted({row[0] for row in _rows(with_hidden, "SELECT label FROM sessions")})
    assert len(labels) > 2
    before = counts(with_hidden)["shape"]
    for label in labels[:3]:
        rows = _rows(with_hidden, f"SELECT label FROM sessions WHERE label = '{label}' AND 7 = 7")
        assert {row[0] for row in rows} == {label}
    assert counts(with_hidden)["shape"] >= before + 2


def test_lookups_by_value_through_adbc_are_counted_by_how_the_guard_passed_them(
    demo: GeneratedDataset,
) -> None:
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    lookup = "SELECT label FROM local.proj1.sessions WHERE label = '{}'"
    with running_service(settings) as service:
        assert service.ops is not None
        with flight_sql.connect(service.uri) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT label FROM local.proj1.sessions")
            labels = sorted({row[0] for row in cursor.fetchall()})
            found = []
            for label in labels[:3]:
                cursor.execute(lookup.format(label))
                found.append({row[0] for row in cursor.fetchall()})
        metrics = scrape(service.ops.port)
    assert found == [{label} for label in labels[:3]]
    assert metrics['fw_flight_sql_guard_analyses_total{how="parsed"}'] == 2
    assert metrics['fw_flight_sql_guard_analyses_total{how="shape"}'] == 2


def test_many_large_texts_of_different_shapes_hold_bounded_memory(with_hidden: Runtime) -> None:
    # Each parses to a tree of 5,300 constants (about 4 MB), and its shape is kept too:
    # kept by text for 1,024 texts, 20 of them held 84 MB before the caches were weighed
    # by their texts' length (now about 40 MB, and 68 MB for 60 of them).
    texts = [
        f"SELECT 1 AS c{i} FROM sessions WHERE 1 IN ({', '.join(['1'] * 5300)})" for i in range(20)
    ]
    assert all(len(text) < 16_384 for text in texts)  # short enough to be cached at all
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for text in texts:
            with_hidden.engine.plan(text, alice())
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 60 * 2**20


def _rows(runtime: Runtime, sql: str) -> list[tuple]:
    execution = runtime.engine.start(sql, alice())
    try:
        execution.open()
        rows: list[tuple] = []
        while (batch := execution.next_batch()) is not None:
            rows.extend(zip(*(column.to_pylist() for column in batch.columns), strict=True))
        return rows
    finally:
        execution.close()


# Values a shape's constants are swapped for: names of files, of hidden tables, of served
# tables, SQL, and numbers of other sizes and kinds.
_STRINGS = ["'/etc/passwd'", "'other.proj2.sessions'", "'sessions'", "'x'' OR 1=1 --'", "''"]
_NUMBERS = {"integer": ["0", "2147483648", "99999999999999999999999"], "decimal": ["0.5", "1e9"]}
_CORPUS = [
    *READABLE,
    *(sql for sql, _kind in ESCAPES),
    *HIDDEN_SPELLINGS,
    "SELECT * FROM sessions WHERE label = 'x' LIMIT 3",
    "SELECT COLUMNS('lab.*') FROM sessions",
    "SELECT * FROM sessions WHERE label IN ('a', 'b') ORDER BY 1 LIMIT 2 OFFSET 1",
    "SELECT 'a' COLLATE nocase, 'b'::VARCHAR, CAST('1' AS INT), [1, 2][1]",
    "SELECT * FROM range(3) r(x) WHERE x > 1",
    "PIVOT sessions ON label IN ('a', 'b') USING count(*)",
    "SELECT * FROM sessions WHERE label LIKE 'a%' AND 1 = 1",
    "SELECT * FROM 'sessions'",
    "SELECT label AS 'x' FROM sessions",
]


def _variants(sql: str) -> list[str]:
    return with_constants_swapped(sql, {"string": _STRINGS, **_NUMBERS})


def _verdict(parser: duckdb.DuckDBPyConnection, sql: str) -> Analysis | ErrorKind:
    try:
        return analyse(parser, sql, "local", "proj1")
    except QueryError as exc:
        return exc.kind


def test_every_text_of_a_shape_gets_the_analysis_its_parse_would_give(
    parser: duckdb.DuckDBPyConnection,
) -> None:
    compared = 0
    for sql in _CORPUS:
        verdict = _verdict(parser, sql)
        if not isinstance(verdict, Analysis) or verdict.shape is None:
            continue
        for variant in _variants(sql):
            assert shape_of(variant) == verdict.shape, variant
            fresh = _verdict(parser, variant)
            # A value may fail to parse (a number out of range): then the bind fails it.
            if isinstance(fresh, ErrorKind):
                assert fresh == ErrorKind.INVALID, variant
                continue
            assert fresh.tables == verdict.tables, variant
            compared += 1
    assert compared > 50
