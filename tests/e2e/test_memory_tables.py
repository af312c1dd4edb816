"""Memory tables end to end over ADBC: a ``SELECT *`` read to its end leaves an Arrow copy
of the table, which answers later plain reads of it (every column or some), exactly as
DuckDB would, to callers who may read the table, until a new version is published.

Each test writes its own dataset so it can move the parquet files away: a query that still
answers then can only be served from memory, and one that fails can only have run. The
results cache is off, so no replay of a text can stand in for the copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest

from flight_server.auth import hash_password
from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    EngineSettings,
    Settings,
    UserSettings,
)
from flight_server.demo import write_dataset
from flight_server.engine import Engine, QueryContext, QueryError, duckdb_engine
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.service import Service
from tests.service_support import running_service, scrape
from tests.support import duckdb_reference

NOT_FOUND = adbc_driver_manager.AdbcStatusCode.NOT_FOUND
SESSIONS = "local.proj1.sessions"


def settings(root: str, memory: str = "64MiB", **engine: object) -> Settings:
    return Settings(
        datasets=[DatasetSettings(name="proj1", location=root)],
        engine=EngineSettings(
            memory_table_bytes=memory,  # type: ignore[arg-type]
            result_cache_bytes=0,  # type: ignore[arg-type]
            **engine,  # type: ignore[arg-type]
        ),
    )


def fetch(uri: str, sql: str, login: dict | None = None) -> pa.Table:
    with flight_sql.connect(uri, db_kwargs=login) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def failure(uri: str, sql: str, login: dict | None = None) -> adbc_driver_manager.Error:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        fetch(uri, sql, login=login)
    return caught.value


def by_id(table: pa.Table) -> pa.Table:
    """Rows in ``id`` order (the first column of that name: reads may repeat it)."""
    return table.take(pc.sort_indices(table.column(table.column_names.index("id"))))


def copies(engine: Engine) -> tuple[int, int]:
    """Tables held, and plain reads answered from them."""
    stats = engine.memory_table_stats()
    return stats.results, stats.hits


@pytest.fixture
def moved(tmp_path: Path) -> Iterator[tuple[Service, object, Path]]:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=8, versions=1)
    with running_service(settings(dataset.root)) as service:
        yield service, dataset, tmp_path / "moved"


def test_plain_reads_are_served_from_the_copy_as_duckdb_returns_them(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=8, versions=1)
    sessions = dataset.latest.tables["sessions"]
    reads = (
        f"SELECT * FROM {SESSIONS}",
        f"FROM {SESSIONS}",
        "select * from LOCAL.Proj1.Sessions s",
        f'SELECT "ID", label, id FROM {SESSIONS};',
        f"SELECT visit FROM {SESSIONS}",
    )
    with running_service(settings(dataset.root, memory="0")) as plain:
        expected = {sql: fetch(plain.uri, sql) for sql in reads}  # what DuckDB answers
    reference = duckdb_reference(sessions, "SELECT id, label, id FROM t")
    assert by_id(expected[f'SELECT "ID", label, id FROM {SESSIONS};']).to_pylist() == (
        by_id(reference).to_pylist()
    )
    with running_service(settings(dataset.root)) as service:
        engine = service.runtime.engine
        whole = fetch(service.uri, f"SELECT * FROM {SESSIONS}")
        assert by_id(whole).equals(by_id(expected[f"SELECT * FROM {SESSIONS}"]))
        assert copies(engine) == (1, 0)
        for sql in reads:  # planned once while the files are there (plans are kept)
            fetch(service.uri, sql)
        assert copies(engine) == (1, len(reads))

        shutil.move(dataset.root, tmp_path / "moved")  # only the copy can answer now
        for sql in reads:
            served = fetch(service.uri, sql)
            assert served.schema.equals(expected[sql].schema, check_metadata=True), sql
            assert served.column_names == expected[sql].column_names, sql
            if "id" in served.column_names:
                assert by_id(served).equals(by_id(expected[sql])), sql
            else:
                assert served.sort_by("visit").equals(expected[sql].sort_by("visit")), sql
        assert copies(engine) == (1, 2 * len(reads))
        # Anything more than a plain read runs on DuckDB, which finds no files now.
        for sql in (
            f"SELECT * FROM {SESSIONS} WHERE visit = 1",
            f"SELECT * FROM {SESSIONS} LIMIT 3",
            f"SELECT * FROM {SESSIONS} ORDER BY id",
            f"SELECT DISTINCT visit FROM {SESSIONS}",
            f"SELECT id AS k FROM {SESSIONS}",
            f"SELECT * EXCLUDE (label) FROM {SESSIONS}",
            f"SELECT *, 1 AS one FROM {SESSIONS}",
            f"SELECT count(*) FROM {SESSIONS}",
        ):
            assert failure(service.uri, sql), sql
        assert copies(engine) == (1, 2 * len(reads))
        shutil.move(tmp_path / "moved", dataset.root)


def test_only_a_whole_table_read_to_its_end_makes_a_copy(moved: tuple) -> None:
    service, dataset, away = moved
    engine = service.runtime.engine
    fetch(service.uri, f"SELECT id, label FROM {SESSIONS}")
    fetch(service.uri, f"SELECT * FROM {SESSIONS} LIMIT 2")
    assert copies(engine) == (0, 0)
    shutil.move(dataset.root, away)
    assert failure(service.uri, f"SELECT id, label FROM {SESSIONS}")
    shutil.move(away, dataset.root)


def test_an_unknown_column_gets_duckdbs_error(moved: tuple) -> None:
    service, _dataset, _away = moved
    fetch(service.uri, f"SELECT * FROM {SESSIONS}")
    error = failure(service.uri, f"SELECT no_such_column FROM {SESSIONS}")
    assert "no_such_column" in str(error)
    assert copies(service.runtime.engine)[1] == 0


def test_a_new_version_is_read_anew(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=6, versions=2)
    first, second = dataset.versions
    shutil.move(second.path, tmp_path / "unpublished")
    with running_service(settings(dataset.root)) as service:
        engine = service.runtime.engine
        old = fetch(service.uri, f"SELECT * FROM {SESSIONS}")
        assert by_id(old).equals(by_id(duckdb_reference(first.tables["sessions"])))
        assert copies(engine) == (1, 0)
        assert service.ops is not None
        metrics = scrape(service.ops.port)
        assert metrics["fw_flight_sql_memory_tables"] == 1
        assert metrics["fw_flight_sql_memory_table_bytes"] >= old.nbytes

        shutil.move(tmp_path / "unpublished", second.path)
        service.runtime.refresh()
        assert copies(engine) == (0, 0)  # publishing dropped the replaced table's copy
        new = fetch(service.uri, f"SELECT * FROM {SESSIONS}")
        assert by_id(new).equals(by_id(duckdb_reference(second.tables["sessions"])))
        assert not by_id(new).equals(by_id(old))
        assert by_id(fetch(service.uri, f"SELECT * FROM {SESSIONS}")).equals(by_id(new))
        assert copies(engine) == (1, 1)


def test_the_budget_keeps_what_fits_and_evicts_the_least_recently_used(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=40, versions=1)
    with running_service(settings(dataset.root, memory="16MiB")) as service:
        engine = service.runtime.engine
        sizes = {}
        for name in ("subjects", "sessions", "acquisitions"):
            fetch(service.uri, f"SELECT * FROM local.proj1.{name}")
            sizes[name] = engine.memory_table_stats().bytes - sum(sizes.values())
        assert copies(engine)[0] == 3 and all(size > 0 for size in sizes.values())
    budget = sizes["sessions"] + sizes["acquisitions"] + sizes["subjects"] // 2
    with running_service(settings(dataset.root, memory=str(budget))) as service:
        engine = service.runtime.engine
        for name in ("subjects", "sessions", "acquisitions"):
            fetch(service.uri, f"SELECT * FROM local.proj1.{name}")
        held = engine.memory_table_stats()
        assert held.results == 2 and held.bytes <= budget
        fetch(service.uri, "SELECT * FROM local.proj1.subjects")
        assert copies(engine)[1] == 0  # the least recently used went first


def test_a_caller_without_the_grant_is_refused_what_another_copied(tmp_path: Path) -> None:
    ours = write_dataset(str(tmp_path / "proj1"), subjects=3, versions=1, seed=1)
    theirs = write_dataset(str(tmp_path / "proj2"), subjects=3, versions=1, seed=2)
    password = hash_password("pw", n=2**10)
    config = settings(ours.root)
    config.datasets.append(DatasetSettings(name="proj2", location=theirs.root, catalog="other"))
    config.auth = AuthSettings(
        users={
            "alice": UserSettings(password_hash=password, datasets=["local/*"]),
            "bob": UserSettings(password_hash=password, datasets=["other/*"]),
        }
    )
    alice = {"username": "alice", "password": "pw"}
    bob = {"username": "bob", "password": "pw"}
    with running_service(config) as service:
        engine = service.runtime.engine
        answer = fetch(service.uri, f"SELECT * FROM {SESSIONS}", login=alice)
        assert by_id(fetch(service.uri, f"FROM {SESSIONS}", login=alice)).equals(by_id(answer))
        assert copies(engine) == (1, 1)
        for sql in (f"SELECT * FROM {SESSIONS}", f"SELECT id FROM {SESSIONS}"):
            refused = failure(service.uri, sql, login=bob)
            assert refused.status_code == NOT_FOUND, refused
        assert copies(engine) == (1, 1)


def endpoints(uri: str, sql: str) -> int:
    """How many endpoints the server answers ``sql`` with (parts of a splittable read)."""
    descriptor = flight.FlightDescriptor.for_command(
        commands.pack(pb.CommandStatementQuery(query=sql))
    )
    with flight.connect(uri) as client:
        return len(client.get_flight_info(descriptor).endpoints)


def test_a_table_that_may_fit_is_read_whole_and_one_too_big_keeps_its_parts(
    tmp_path: Path,
) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=40, versions=1, chunk_rows=20)
    whole, columns = f"SELECT * FROM {SESSIONS}", f"SELECT id, visit FROM {SESSIONS}"
    split = settings(dataset.root, memory="0")
    split.limits.partition_min_rows = 10
    with running_service(split) as service:
        assert endpoints(service.uri, whole) > 1 and endpoints(service.uri, columns) > 1
    fits = settings(dataset.root, memory="64MiB")
    fits.limits.partition_min_rows = 10
    with running_service(fits) as service:
        # Read whole, so that it makes the copy; a column read may still run in parts.
        assert endpoints(service.uri, whole) == 1 and endpoints(service.uri, columns) > 1
        fetch(service.uri, whole)
        assert copies(service.runtime.engine) == (1, 0)
        # The copy answers both reads whole now.
        assert endpoints(service.uri, whole) == 1 and endpoints(service.uri, columns) == 1
        assert fetch(service.uri, columns).num_rows == fetch(service.uri, whole).num_rows
        assert copies(service.runtime.engine) == (1, 2)
    too_big = settings(dataset.root, memory="1KiB")
    too_big.limits.partition_min_rows = 10
    with running_service(too_big) as service:
        assert endpoints(service.uri, whole) > 1


def test_a_table_too_big_for_the_budget_is_left_to_the_results_cache(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=8, versions=1)
    config = settings(dataset.root, memory="1KiB")  # below any table's parquet
    config.engine.result_cache_bytes = 64 * 1024 * 1024  # type: ignore[assignment]
    with running_service(config) as service:
        engine = service.runtime.engine
        first = fetch(service.uri, f"SELECT * FROM {SESSIONS}")
        assert by_id(fetch(service.uri, f"SELECT * FROM {SESSIONS}")).equals(by_id(first))
        assert copies(engine) == (0, 0)
        assert engine.result_cache_stats().hits == 1


def test_with_the_grant_check_bypassed_a_copy_reaches_only_callers_who_may_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy is looked up only for a table the caller may read (the engine's own filter
    of what a query may bind), a second line behind the guard's ``authorise``."""
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=4, versions=1)
    with running_service(settings(dataset.root)) as service:
        engine = service.runtime.engine
        whole = fetch(service.uri, f"SELECT * FROM {SESSIONS}")
        assert copies(engine) == (1, 0)
        shutil.move(dataset.root, tmp_path / "moved")  # DuckDB cannot answer now
        monkeypatch.setattr(duckdb_engine, "authorise", lambda analysis, access: None)
        nobody = QueryContext(may_read=lambda *_: False)
        with pytest.raises(QueryError):
            run(engine, f"SELECT * FROM {SESSIONS}", nobody)
        assert copies(engine) == (1, 0)  # not answered from the copy
        served = run(engine, f"SELECT * FROM {SESSIONS}", QueryContext())  # may read all
        assert by_id(served).to_pylist() == by_id(whole).to_pylist()
        assert copies(engine) == (1, 1)
        shutil.move(tmp_path / "moved", dataset.root)


def run(engine: Engine, sql: str, context: QueryContext) -> pa.Table:
    """``sql`` through the engine as the server starts it, read to the end."""
    execution = engine.start(sql, context)
    try:
        schema = execution.open()
        return pa.Table.from_batches(list(iter(execution.next_batch, None)), schema)
    finally:
        execution.close()
