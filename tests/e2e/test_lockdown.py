"""Two lines of defence against reading files outside the datasets, each shown on its own.

Every escape runs three ways: through the SQL guard (``Engine.plan``), directly on the
engine's own DuckDB connection with the guard bypassed (DuckDB's lockdown must hold
alone), and on a plain DuckDB connection, where it does read the secret: so these tests
fail if either line is taken away. The attack that found the hole runs over Flight SQL
too, as an anonymous ADBC client on the README's ``serve --dataset`` start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pytest

from flight_server.auth import Caller, Grant
from flight_server.catalog.model import Snapshot
from flight_server.catalog.static import open_dataset
from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.engine.guard import TableAccess, analyse, authorise
from flight_server.runtime import Runtime
from flight_server.storage import parse_location
from tests.support import server_process

SECRET = "hunter2-lockdown"
# What reading the secret folder shows: the secret, the file's column, a file's name.
LEAKS = (SECRET, "password")
ALICE = Caller("alice", Grant.parse(["local/proj1", "found/proj3"]))


@dataclass(frozen=True)
class Paths:
    """The secret outside every dataset, and where the datasets are."""

    secret: str  # a CSV file whose second row holds SECRET
    secret_dir: str
    native_root: str  # a configured local dataset, read by DuckDB itself
    outside: str  # a writable folder outside every dataset


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory, demo: GeneratedDataset) -> Paths:
    secret_dir = tmp_path_factory.mktemp("secrets")
    # Named so the four-part attack's dotted name (``creds.proj1.subjects``) finds it.
    secret = secret_dir / "creds.proj1.subjects"
    secret.write_text(f"user,password\nroot,{SECRET}\n")
    (secret_dir / "creds.csv").write_text(secret.read_text())
    (secret_dir / f"{SECRET}.txt").write_text("a listing of this folder shows the secret\n")
    return Paths(
        str(secret_dir / "creds.csv"),
        str(secret_dir),
        demo.root,
        str(tmp_path_factory.mktemp("outside")),
    )


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """A local dataset the configuration did not name (as Flywheel ``type: fs`` finds one)."""
    return write_dataset(str(tmp_path_factory.mktemp("found") / "proj3"), subjects=3, seed=5)


@pytest.fixture(scope="module")
def runtime(demo: GeneratedDataset, routed: GeneratedDataset) -> Iterator[Runtime]:
    runtime = Runtime(Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)]))
    snapshot = runtime.refresh()
    found = open_dataset("found", "proj3", parse_location(routed.root))
    runtime.engine.publish(Snapshot((*snapshot.datasets, found)))
    # Views are made on first use: make the one whose scan shows the router's prefix.
    runtime.engine.plan("SELECT * FROM found.proj3.subjects", QueryContext())
    yield runtime


def routed_prefix(runtime: Runtime) -> str:
    """The ``fwds://<key>/`` the later dataset's views read through (shown by DuckDB)."""
    cursor = runtime.engine._db.cursor()
    (sql,) = cursor.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = 'found' AND view_name = 'subjects'"
    ).fetchone()
    start = sql.index("fwds://")
    return sql[start : sql.index("/", start + len("fwds://")) + 1]


# Each reads the secret from a DuckDB that has no lockdown.
READS = [
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_csv_auto('{secret}')",
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM read_csv('file://{secret}')",
    "SELECT * FROM '{secret}'",
    'SELECT * FROM "{secret}"',
    "SELECT * FROM read_csv('{native_root}/../../../../../../../..{secret}')",
    "SELECT * FROM read_csv('{native_root}/versions/../../../../../../../../..{secret}')",
    "SELECT * FROM read_csv('{secret_dir}/*.csv')",
    "SELECT * FROM read_csv('{secret_dir}/**/creds.csv')",
    "SELECT * FROM glob('{secret_dir}/*')",
    # the attack: a four-part name falls back to a replacement scan of its dotted text
    'SELECT * FROM local."x.csv?/../../../../../../../../..{secret_dir}/creds".proj1.subjects',
    'SELECT * FROM local."x.csv?/../../../../../../../../..{secret_dir}/**/creds".proj1.subjects',
    'SELECT * FROM a.local."x.csv?/../../../../../../../..{secret_dir}/creds".proj1.subjects',
    'DESCRIBE local."x.csv?/../../../../../../../../..{secret_dir}/creds".proj1.subjects',
    'SELECT (SELECT max(password) FROM local."x.csv?/../../../../../../../../..'
    '{secret_dir}/creds".proj1.subjects)',
    # a CTE's body binds its own name to the file
    'WITH "{secret}" AS (SELECT * FROM \'{secret}\') SELECT * FROM "{secret}"',
    # planning another statement puts the file's lines in its error text
    "SELECT json_serialize_plan('SELECT hunter FROM read_csv(''{secret}'', header=true, skip=1)')",
]
# Each writes outside the datasets, or undoes the lockdown, on a DuckDB without one.
WRITES = [
    "COPY (SELECT 1) TO '{outside}/out.csv'",
    "EXPORT DATABASE '{outside}/export'",
    "ATTACH '{outside}/x.duckdb' AS x",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
]
# Paths through the routing protocol that leave their dataset or name no dataset.
ROUTED = [
    "SELECT * FROM read_csv('{prefix}../../../../../../../..{secret}')",
    "SELECT * FROM read_csv('{prefix}versions/../../../../../../../../..{secret}')",
    "SELECT * FROM read_csv('{prefix}{secret}')",
    "SELECT * FROM read_csv('{prefix}./../../../../../../../..{secret}')",
    "SELECT * FROM read_csv('fwds://0123456789abcdef01234567/{secret}')",
    "SELECT * FROM read_csv('fwds:///{secret}')",
    "SELECT * FROM glob('{prefix}../**')",
    "COPY (SELECT 1) TO '{prefix}out.csv'",
]


def fill(template: str, paths: Paths, prefix: str = "") -> str:
    return template.format(
        secret=paths.secret,
        secret_dir=paths.secret_dir,
        native_root=paths.native_root,
        outside=paths.outside,
        prefix=prefix,
    )


def outcome(cursor: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Everything a caller could learn from running ``sql``: its rows or its error."""
    try:
        relation = cursor.sql(sql)  # statements that return no rows run here and give None
        return repr(relation.to_arrow_table().to_pylist()) if relation is not None else "ran"
    except Exception as exc:  # any failure is an answer to inspect
        return f"error: {exc}"


@pytest.mark.parametrize("template", READS)
def test_reads_leak_from_a_duckdb_without_lockdown(paths: Paths, template: str) -> None:
    """The control: each read escape does reach the secret when nothing stops it."""
    plain = duckdb.connect(config={"python_enable_replacements": False})
    plain.execute("ATTACH ':memory:' AS local")
    answer = outcome(plain, fill(template, paths))
    assert any(leak in answer for leak in LEAKS)


@pytest.mark.parametrize("template", READS + WRITES)
def test_duckdb_alone_refuses_escapes(runtime: Runtime, paths: Paths, template: str) -> None:
    cursor = runtime.engine._db.cursor()  # the guard is bypassed: raw SQL on the engine
    answer = outcome(cursor, fill(template, paths))
    assert not any(leak in answer for leak in LEAKS)
    assert answer.startswith("error:") or "disabled by configuration" in answer
    assert not Path(paths.outside, "out.csv").exists()
    assert not Path(paths.outside, "export").exists()
    assert not Path(paths.outside, "x.duckdb").exists()


@pytest.mark.parametrize("template", ROUTED)
def test_the_router_refuses_paths_outside_its_datasets(
    runtime: Runtime, paths: Paths, template: str
) -> None:
    cursor = runtime.engine._db.cursor()
    answer = outcome(cursor, fill(template, paths, routed_prefix(runtime)))
    assert answer.startswith("error:")
    assert not any(leak in answer for leak in LEAKS)


def guard_verdict(sql: str) -> QueryError:
    """What the guard alone says of ``sql`` for a caller who may read ``local.proj1``: it
    parses on a plain DuckDB (no lockdown behind it) and binds nothing."""
    readable = {("local", "proj1", table) for table in ("subjects", "sessions")}
    access = TableAccess(served=readable.__contains__, readable=readable.__contains__)
    with pytest.raises(QueryError) as caught:
        authorise(analyse(duckdb.connect(), sql, "local", "proj1"), access)
    return caught.value


@pytest.mark.parametrize("template", READS + WRITES + ROUTED)
def test_the_guard_alone_refuses_escapes(paths: Paths, template: str) -> None:
    refused = guard_verdict(fill(template, paths, "fwds://x/"))
    assert refused.kind in (ErrorKind.PERMISSION, ErrorKind.NOT_FOUND)
    assert SECRET not in refused.message


def test_datasets_still_read_under_the_lockdown(runtime: Runtime) -> None:
    """Native local roots and routed datasets both read; files outside do not."""
    context = QueryContext(may_read=ALICE.may_see)
    counts = []
    for table in ("local.proj1.subjects", "found.proj3.subjects"):
        execution = runtime.engine.start(f"SELECT count(*) AS n FROM {table}", context)
        try:
            counts.append(execution.next_batch().to_pylist()[0]["n"])
        finally:
            execution.close()
    assert counts[0] > 0
    assert counts[1] == 3
    assert routed_prefix(runtime).startswith("fwds://")


HIDDEN_OR_MISSING = [
    ("SELECT 1::other.x.t", "SELECT 1::nosuch.x.t"),
    ("SELECT CAST(1 AS other.main.t)", "SELECT CAST(1 AS nosuch.main.t)"),
    ("SELECT 1::other.t", "SELECT 1::nosuch.t"),
    ("SELECT other.main.f(1)", "SELECT nosuch.main.f(1)"),
    ("SELECT other.f(1)", "SELECT nosuch.f(1)"),
    ("SELECT * FROM other.main.range(3)", "SELECT * FROM nosuch.main.range(3)"),
]


@pytest.mark.parametrize(("hidden", "missing"), HIDDEN_OR_MISSING)
def test_type_and_function_names_are_not_oracles(
    with_hidden: Runtime, hidden: str, missing: str
) -> None:
    answers = []
    for sql in (hidden, missing):
        with pytest.raises(QueryError) as caught:
            with_hidden.engine.plan(sql, QueryContext("local", "proj1", ALICE.may_see))
        answers.append((caught.value.kind, caught.value.message.replace("nosuch", "other")))
    assert answers[0] == answers[1]
    assert answers[0][0] == ErrorKind.PERMISSION


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1::INTEGER",
        "SELECT CAST('1' AS system.main.INTEGER)",
        "SELECT main.abs(-1)",
        "SELECT system.main.abs(-1)",
        "SELECT [1, 2]::INTEGER[]",
        "SELECT * FROM system.main.range(2)",
    ],
)
def test_builtin_names_still_work(with_hidden: Runtime, sql: str) -> None:
    with_hidden.engine.plan(sql, QueryContext("local", "proj1", ALICE.may_see))


def union(branches: int) -> str:
    return " UNION ALL ".join(f"SELECT {i} AS x" for i in range(branches))


@pytest.mark.parametrize(
    "sql",
    [
        union(1_001),  # more SELECT blocks than allowed
        union(50_000),  # a 1 MB statement refused before DuckDB parses it
        "SELECT " + " + ".join(["1"] * 60_000),  # more syntax nodes than allowed
    ],
)
def test_statements_past_the_complexity_bound_are_refused(runtime: Runtime, sql: str) -> None:
    with pytest.raises(QueryError) as caught:
        runtime.engine.plan(sql, QueryContext())
    assert caught.value.kind == ErrorKind.INVALID
    assert "too complex" in caught.value.message


@pytest.mark.parametrize(
    "sql",
    [
        union(1_000),
        "SELECT x FROM range(10) t(x) WHERE x IN (" + ", ".join(map(str, range(20_000))) + ")",
        "SELECT 'select select select' AS s -- select select\n",
    ],
)
def test_large_ordinary_statements_still_plan(runtime: Runtime, sql: str) -> None:
    runtime.engine.plan(sql, QueryContext())


def test_the_complexity_bound_is_configurable(demo: GeneratedDataset) -> None:
    settings = Settings(
        datasets=[DatasetSettings(name="proj1", location=demo.root)],
        limits={"max_sql_selects": 3},
    )
    runtime = Runtime(settings)
    runtime.engine.plan(union(3), QueryContext())
    with pytest.raises(QueryError, match="too complex"):
        runtime.engine.plan(union(4), QueryContext())


def test_an_anonymous_client_cannot_read_files_over_flight_sql(
    demo: GeneratedDataset, paths: Paths
) -> None:
    """The attack as it was run: ADBC, no credentials, the README's start."""
    with (
        server_process("--dataset", f"proj1={demo.root}") as (uri, _process),
        flight_sql.connect(uri) as conn,
    ):
        for template in READS:
            with conn.cursor() as cursor:
                with pytest.raises(flight_sql.Error) as caught:
                    cursor.execute(fill(template, paths))
                    cursor.fetchall()
                assert SECRET not in str(caught.value)
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM local.proj1.subjects")
            assert cursor.fetchone()[0] > 0
