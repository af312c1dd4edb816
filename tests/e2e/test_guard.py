"""The SQL lockdown, against a real engine publishing real datasets.

Alice may read ``local.proj1``; ``other.proj2`` exists but is hidden from her. Every
query is planned (``Engine.plan``), which is where the guard runs, so nothing here
depends on the protocol layer.
"""

from __future__ import annotations

import duckdb
import pytest

from flight_server.auth import Caller, Grant
from flight_server.demo import GeneratedDataset
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.engine.guard import CATALOG_READING_MACROS
from flight_server.runtime import Runtime

ALICE = Caller("alice", Grant.parse(["local/proj1"]))


def alice(catalog: str | None = "local", schema: str | None = "proj1") -> QueryContext:
    return QueryContext(catalog, schema, may_read=ALICE.may_see)


def refused(runtime: Runtime, sql: str, context: QueryContext | None = None) -> QueryError:
    with pytest.raises(QueryError) as caught:
        runtime.engine.plan(sql, context or alice())
    return caught.value


READABLE = [
    "SELECT count(*) FROM sessions",
    "select * from SESSIONS",
    "SELECT * FROM local.proj1.sessions",
    'SELECT * FROM "LOCAL"."Proj1"."Sessions"',
    "SELECT * FROM proj1.sessions",
    "FROM sessions SELECT 1",
    "/* comment */ SELECT 1 FROM sessions -- trailing",
    "WITH s AS (SELECT * FROM sessions) SELECT count(*) FROM s",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "SELECT * FROM (SELECT * FROM local.proj1.subjects) t",
    "SELECT * FROM sessions a JOIN subjects b ON true LIMIT 1",
    "SELECT 1 FROM sessions UNION ALL SELECT 2 FROM subjects",
    "SELECT * FROM subjects, LATERAL (SELECT 1 FROM sessions) x LIMIT 1",
    "SELECT (SELECT count(*) FROM subjects), EXISTS (SELECT 1 FROM sessions)",
    "SELECT * FROM range(3)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM unnest([1, 2])",
    "VALUES (1), (2)",
    "SELECT ?::INTEGER AS p",
    "DESCRIBE sessions",
    "DESCRIBE SELECT * FROM local.proj1.sessions",
]


@pytest.mark.parametrize("sql", READABLE)
def test_readable_queries_plan(with_hidden: Runtime, sql: str) -> None:
    with_hidden.engine.plan(sql, alice())


def test_versions_are_readable_by_their_schema_name(
    with_hidden: Runtime, demo: GeneratedDataset
) -> None:
    label = demo.versions[0].label
    with_hidden.engine.plan(f'SELECT * FROM local."proj1@{label}".sessions', alice())


ESCAPES = [
    # files, by table function or replacement scan
    ("SELECT * FROM read_csv('/etc/passwd')", ErrorKind.PERMISSION),
    ("SELECT * FROM READ_CSV_AUTO('/etc/passwd')", ErrorKind.PERMISSION),
    ("SELECT * FROM read_text('/etc/hostname')", ErrorKind.PERMISSION),
    ("SELECT * FROM read_blob('/etc/hostname')", ErrorKind.PERMISSION),
    ("SELECT * FROM read_json('/etc/x.json')", ErrorKind.PERMISSION),
    ("SELECT * FROM read_parquet('/tmp/x.parquet')", ErrorKind.PERMISSION),
    ("SELECT * FROM parquet_scan('/tmp/x.parquet')", ErrorKind.PERMISSION),
    ("SELECT * FROM parquet_metadata('/tmp/x.parquet')", ErrorKind.PERMISSION),
    ("SELECT * FROM glob('/*')", ErrorKind.PERMISSION),
    ("SELECT * FROM system.main.read_text('/etc/hostname')", ErrorKind.PERMISSION),
    ("SELECT * FROM local.proj1.range(3)", ErrorKind.PERMISSION),
    ("SELECT * FROM '/etc/passwd'", ErrorKind.PERMISSION),
    ('SELECT * FROM "/etc/passwd"', ErrorKind.PERMISSION),
    ("SELECT * FROM 's3://bucket/x.parquet'", ErrorKind.PERMISSION),
    ("SELECT * FROM sessions, read_text('/etc/hostname')", ErrorKind.PERMISSION),
    ("SELECT (SELECT content FROM read_text('/etc/hostname'))", ErrorKind.PERMISSION),
    ("WITH x AS (SELECT * FROM read_text('/etc/hostname')) SELECT * FROM x", ErrorKind.PERMISSION),
    ("SELECT list_transform([1], x -> (SELECT 1 FROM glob('/*')))", ErrorKind.PERMISSION),
    ("SELECT 1 UNION SELECT 1 FROM read_csv('/etc/passwd')", ErrorKind.PERMISSION),
    # other catalogs and server state, through functions
    ("SELECT * FROM duckdb_tables()", ErrorKind.PERMISSION),
    ("SELECT * FROM duckdb_views()", ErrorKind.PERMISSION),
    ("SELECT * FROM duckdb_databases()", ErrorKind.PERMISSION),
    ("SELECT * FROM duckdb_settings()", ErrorKind.PERMISSION),
    ("SELECT * FROM pragma_table_info('other.proj2.sessions')", ErrorKind.PERMISSION),
    ("SELECT * FROM query('SELECT * FROM other.proj2.sessions')", ErrorKind.PERMISSION),
    ("SELECT * FROM query_table('other.proj2.sessions')", ErrorKind.PERMISSION),
    ("SELECT * FROM json_execute_serialized_sql('{}')", ErrorKind.PERMISSION),
    ("SELECT current_setting('temp_directory')", ErrorKind.PERMISSION),
    ("SELECT getvariable('x')", ErrorKind.PERMISSION),
    ("SHOW TABLES", ErrorKind.PERMISSION),
    ("SHOW ALL TABLES", ErrorKind.PERMISSION),
    ("SHOW DATABASES", ErrorKind.PERMISSION),
    ("SELECT * FROM information_schema.tables", ErrorKind.NOT_FOUND),
    ("SELECT * FROM pg_catalog.pg_class", ErrorKind.NOT_FOUND),
    ("SELECT * FROM pg_class", ErrorKind.NOT_FOUND),
    # statements other than one SELECT, however spelled
    ("COPY (SELECT 1) TO '/tmp/out.csv'", ErrorKind.PERMISSION),
    ("copy sessions to '/tmp/out.parquet'", ErrorKind.PERMISSION),
    ("EXPORT DATABASE '/tmp/export'", ErrorKind.PERMISSION),
    ("IMPORT DATABASE '/tmp/export'", ErrorKind.PERMISSION),
    ("ATTACH '/tmp/x.duckdb' AS x", ErrorKind.PERMISSION),
    ("attach ':memory:' as x", ErrorKind.PERMISSION),
    ("DETACH local", ErrorKind.PERMISSION),
    ("INSTALL httpfs", ErrorKind.PERMISSION),
    ("LOAD httpfs", ErrorKind.PERMISSION),
    ("FORCE INSTALL httpfs", ErrorKind.PERMISSION),
    ("UPDATE EXTENSIONS", ErrorKind.PERMISSION),
    ("SET enable_external_access = true", ErrorKind.PERMISSION),
    ("SET GLOBAL threads = 1", ErrorKind.PERMISSION),
    ("RESET memory_limit", ErrorKind.PERMISSION),
    ("PRAGMA enable_profiling", ErrorKind.PERMISSION),
    ("PRAGMA show_tables", ErrorKind.PERMISSION),
    ("CALL duckdb_tables()", ErrorKind.PERMISSION),
    ("USE other.proj2", ErrorKind.PERMISSION),
    ("CREATE TABLE t AS SELECT 1", ErrorKind.PERMISSION),
    ("CREATE VIEW v AS SELECT * FROM read_text('/etc/hostname')", ErrorKind.PERMISSION),
    ("CREATE MACRO m() AS 1", ErrorKind.PERMISSION),
    ("CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')", ErrorKind.PERMISSION),
    ("DROP VIEW local.proj1.sessions", ErrorKind.PERMISSION),
    ("INSERT INTO local.proj1.sessions VALUES (1)", ErrorKind.PERMISSION),
    ("UPDATE local.proj1.sessions SET x = 1", ErrorKind.PERMISSION),
    ("DELETE FROM local.proj1.sessions", ErrorKind.PERMISSION),
    ("ALTER VIEW local.proj1.sessions RENAME TO s", ErrorKind.PERMISSION),
    ("PREPARE p AS SELECT * FROM read_text('/etc/hostname')", ErrorKind.PERMISSION),
    ("EXECUTE p", ErrorKind.PERMISSION),
    ("CHECKPOINT", ErrorKind.PERMISSION),
    ("VACUUM", ErrorKind.PERMISSION),
    ("BEGIN TRANSACTION", ErrorKind.PERMISSION),
    ("EXPLAIN SELECT 1", ErrorKind.PERMISSION),
    ("PIVOT (SELECT 1 AS a) ON a USING count(*)", ErrorKind.PERMISSION),
    ("SELECT 1; COPY (SELECT 1) TO '/tmp/out.csv'", ErrorKind.INVALID),
    ("SELECT 1;\nATTACH ':memory:' AS x", ErrorKind.INVALID),
    ("/* SELECT */ cOpY (SELECT 1) TO '/tmp/out.csv'", ErrorKind.PERMISSION),
]


@pytest.mark.parametrize(("sql", "kind"), ESCAPES)
def test_every_escape_is_refused(with_hidden: Runtime, sql: str, kind: ErrorKind) -> None:
    assert refused(with_hidden, sql).kind == kind


HIDDEN_SPELLINGS = [
    "SELECT * FROM other.proj2.sessions",
    'SELECT * FROM "other"."proj2"."sessions"',
    "SELECT * FROM OTHER.PROJ2.SESSIONS",
    "SELECT * FROM sessions JOIN other.proj2.subjects ON true",
    "SELECT * FROM (SELECT * FROM other.proj2.sessions)",
    "WITH s AS (SELECT * FROM other.proj2.sessions) SELECT * FROM s",
    "WITH s AS (SELECT 1) SELECT * FROM s, other.proj2.sessions",
    "SELECT 1 UNION ALL SELECT 1 FROM other.proj2.sessions",
    "SELECT (SELECT count(*) FROM other.proj2.sessions)",
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM other.proj2.sessions)",
    "SELECT * FROM subjects, LATERAL (SELECT * FROM other.proj2.sessions) x",
    "SELECT list_transform([1], x -> (SELECT count(*) FROM other.proj2.sessions))",
    "DESCRIBE other.proj2.sessions",
    "SUMMARIZE other.proj2.sessions",
    "SELECT * FROM local.proj2.sessions",
    "SELECT * FROM proj2.sessions",
]


@pytest.mark.parametrize("sql", HIDDEN_SPELLINGS)
def test_hidden_tables_are_unreachable_by_any_spelling(with_hidden: Runtime, sql: str) -> None:
    error = refused(with_hidden, sql)
    assert error.kind in (ErrorKind.NOT_FOUND, ErrorKind.PERMISSION)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM sessions",
        "SELECT * FROM proj2.sessions",
        # a CTE of the same name inside a subquery does not hide the outer, real table
        "SELECT * FROM sessions, (WITH sessions AS (SELECT 1) SELECT * FROM sessions) s",
        # a later CTE is not in scope of an earlier one
        "WITH a AS (SELECT * FROM sessions), sessions AS (SELECT 1) SELECT * FROM a",
    ],
)
def test_hidden_default_schema_resolves_nothing(with_hidden: Runtime, sql: str) -> None:
    assert refused(with_hidden, sql, alice("other", "proj2")).kind == ErrorKind.NOT_FOUND


def test_the_owner_of_a_dataset_reads_it(with_hidden: Runtime) -> None:
    owner = QueryContext("other", "proj2", may_read=Caller("bob", Grant.parse(["other/*"])).may_see)
    with_hidden.engine.plan("SELECT * FROM sessions", owner)
    refusal = refused(with_hidden, "SELECT * FROM local.proj1.sessions", owner)
    assert refusal.kind == ErrorKind.NOT_FOUND


@pytest.fixture(scope="module")
def secret_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("secret") / "secret.csv"
    path.write_text("user,password\nroot,hunter2\n")
    return str(path)


# Each of these was accepted once and read a file or the server's catalog.
WALKAROUNDS = [
    # A CTE's body does not see its own name: DuckDB binds it to the real table or file.
    'WITH "{csv}" AS (SELECT * FROM \'{csv}\') SELECT * FROM "{csv}"',
    "WITH pg_views AS (SELECT * FROM pg_views) SELECT * FROM pg_views",
    "WITH pg_views AS MATERIALIZED (SELECT * FROM pg_views) SELECT * FROM pg_views",
    "WITH a AS (SELECT 1), pg_settings AS (SELECT * FROM pg_settings) SELECT * FROM pg_settings",
    "SELECT * FROM sessions WHERE EXISTS"
    " (WITH pg_views AS (SELECT * FROM pg_views) SELECT 1 FROM pg_views)",
    "WITH RECURSIVE pg_views AS (SELECT * FROM pg_views) SELECT * FROM pg_views",
    # ... nor does the anchor of a recursive CTE (only its recursive branch does).
    "WITH RECURSIVE pg_views AS (SELECT count(*)::INT AS x FROM pg_views"
    " UNION ALL SELECT x + 1 FROM pg_views WHERE x < 3) SELECT * FROM pg_views",
    # Names DuckDB holds apart although Python's casefold makes them equal (long s).
    'WITH "pg_view\u017f" AS (SELECT 1) SELECT * FROM pg_views',
    """WITH "{csv_long_s}" AS (SELECT 1) SELECT * FROM '{csv}'""",
    # Functions that plan other SQL (bind errors carry file lines) or read the catalog.
    "SELECT json_serialize_plan('SELECT nope FROM read_csv(''{csv}'', header=true)')",
    "SELECT JSON_SERIALIZE_PLAN(?)",
    "SELECT json_serialize_sql('SELECT 1')",
    "SELECT json_deserialize_sql(json_serialize_sql('SELECT 1'))",
    "SELECT pg_get_viewdef(i) FROM range(100) t(i)",
    "SELECT pg_catalog.pg_get_viewdef(1)",
    "SELECT get_block_size('other')",
    "SELECT format_type(1, 0)",
    "SELECT pg_get_constraintdef(1)",
    "SELECT write_log('x')",
    # Lookups by a name given as a value, whose errors tell hidden catalogs from missing.
    "SELECT index_key({{'catalog': 'other', 'table': 'sessions'}}, 'i', 1)",
    "SELECT nextval('other.main.s')",
    "SELECT currval('other.main.s')",
    "SELECT setval('other.main.s', 1)",
    "SELECT make_type('other.main.t')",
]


@pytest.mark.parametrize("template", WALKAROUNDS)
def test_walkarounds_of_the_guard_are_refused(
    with_hidden: Runtime, secret_csv: str, template: str
) -> None:
    sql = template.format(csv=secret_csv, csv_long_s=secret_csv.replace("s", "\u017f"))
    assert refused(with_hidden, sql).kind in (ErrorKind.NOT_FOUND, ErrorKind.PERMISSION)


def test_every_builtin_macro_that_reads_the_catalog_is_refused() -> None:
    """A DuckDB upgrade that adds such a macro fails here until the guard lists it."""
    rows = duckdb.connect().execute(
        "SELECT DISTINCT function_name FROM duckdb_functions()"
        " WHERE function_type = 'macro' AND upper(macro_definition) LIKE '%FROM%'"
    )
    assert {name for (name,) in rows.fetchall()} <= CATALOG_READING_MACROS


def test_recursive_ctes_still_read_their_own_rows(with_hidden: Runtime) -> None:
    sql = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, subjects"
        " WHERE n < 3) SELECT max(n) AS top FROM r"
    )
    execution = with_hidden.engine.start(sql, alice())
    try:
        assert execution.next_batch().to_pylist() == [{"top": 3}]
    finally:
        execution.close()


def test_hidden_and_missing_tables_get_the_same_answer(with_hidden: Runtime) -> None:
    hidden = refused(with_hidden, "SELECT * FROM other.proj2.sessions")
    missing = refused(with_hidden, "SELECT * FROM other.proj9.sessions")
    assert (hidden.kind, missing.kind) == (ErrorKind.NOT_FOUND, ErrorKind.NOT_FOUND)
    assert hidden.message.replace("proj2", "proj9") == missing.message


def test_errors_suggest_no_names(with_hidden: Runtime) -> None:
    error = refused(with_hidden, "SELECT lenght('abc') FROM sessions")
    assert error.kind == ErrorKind.INVALID or error.kind == ErrorKind.NOT_FOUND
    assert "Did you mean" not in error.message


def test_deep_nesting_is_refused_cleanly(with_hidden: Runtime) -> None:
    sql = "SELECT " + "(" * 5000 + "1" + ")" * 5000
    assert refused(with_hidden, sql).kind in (ErrorKind.INVALID, ErrorKind.PERMISSION)


def test_missing_tables_get_hints_from_readable_tables_only(with_hidden: Runtime) -> None:
    typo = refused(with_hidden, "SELECT * FROM local.proj1.sesions")
    assert typo.kind == ErrorKind.NOT_FOUND
    assert "did you mean local.proj1.sessions?" in typo.message
    # proj2's tables are hidden from alice: never suggested, and hidden == missing still.
    hidden = refused(with_hidden, "SELECT * FROM other.proj2.sesions")
    missing = refused(with_hidden, "SELECT * FROM other.proj9.sesions")
    assert "proj2" not in hidden.message.replace("other.proj2.sesions", "")
    assert hidden.message.replace("proj2", "proj9") == missing.message
