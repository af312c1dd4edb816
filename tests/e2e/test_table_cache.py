"""The hot table cache: served tables copied into DuckDB storage answer exactly as from parquet.

Each test writes its own dataset, so it can move the parquet files away: a query that still
answers then can only be reading the copy, and one that fails can only be reading parquet.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.config import DatasetSettings, EngineSettings, Settings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.engine import Engine, ErrorKind, QueryContext, QueryError
from flight_server.runtime import Runtime
from flight_server.service import StartupError
from flight_server.storage import Location, open_location
from tests.servers.s3 import S3Server
from tests.service_support import running_service, scrape
from tests.support import duckdb_reference, upload


def settings(
    location: str,
    tmp_path: Path,
    cache_bytes: str | None,
    options: dict[str, str] | None = None,
    index_columns: list[str] | None = None,
) -> Settings:
    """Dataset ``local.proj1`` at ``location``, with a cache of ``cache_bytes`` (None: off)
    indexing ``index_columns`` (None: the default ones)."""
    dataset = DatasetSettings(name="proj1", location=location, options=options or {})
    indexing = {} if index_columns is None else {"cache_index_columns": index_columns}
    engine = EngineSettings(
        cache_bytes=cache_bytes,
        cache_directory=str(tmp_path / "cache"),
        result_cache_bytes=0,  # a replayed result would answer where only a copy should
        **indexing,
    )
    return Settings(datasets=[dataset], engine=engine)


def fetch(uri: str, sql: str) -> pa.Table:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def run(engine: Engine, sql: str) -> pa.Table:
    """``sql`` through the engine, as the server runs it (guard included)."""
    execution = engine.start(sql, QueryContext())
    try:
        schema = execution.open()
        batches = iter(execution.next_batch, None)
        return pa.Table.from_batches(list(batches), schema)
    finally:
        execution.close()


def settle(engine: Engine) -> None:
    deadline = time.monotonic() + 10
    while engine.cache_stats().pending:
        assert time.monotonic() < deadline, "the table cache never settled"
        time.sleep(0.01)


def test_the_cache_is_off_by_default(tmp_path: Path) -> None:
    assert EngineSettings().cache_bytes is None
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=5, versions=1)
    with running_service(settings(dataset.root, tmp_path, None)) as service:
        assert service.ops is not None
        fetch(service.uri, "SELECT * FROM local.proj1.sessions")
        assert service.runtime.engine.cache_stats().pending == 0
        metrics = scrape(service.ops.port)
    assert metrics["fw_flight_sql_table_cache_tables"] == 0
    assert metrics["fw_flight_sql_table_cache_pending"] == 0
    assert not (tmp_path / "cache").exists()


def test_planning_and_catalog_listings_queue_no_copies(tmp_path: Path) -> None:
    # A BI tool that connects lists every table with its columns; that is not use.
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=5, versions=1)
    with running_service(settings(dataset.root, tmp_path, "1GiB")) as service:
        engine = service.runtime.engine
        with flight_sql.connect(service.uri) as conn:
            conn.adbc_get_objects(depth="all").read_all()
            with conn.cursor() as cur:
                cur.adbc_prepare("SELECT * FROM local.proj1.sessions")
        settle(engine)
        assert engine.cache_stats().tables == 0
        fetch(service.uri, "SELECT count(*) FROM local.proj1.sessions")
        settle(engine)
        assert engine.cache_stats().tables == 1


def test_warm_tables_answer_exactly_as_parquet_did(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="flight_server.engine.table_cache")
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=12, versions=1)
    names = sorted(dataset.latest.tables)
    with running_service(settings(dataset.root, tmp_path, "1GiB")) as service:
        assert service.ops is not None
        engine = service.runtime.engine
        cold = {name: fetch(service.uri, f"SELECT * FROM local.proj1.{name}") for name in names}
        cold_columns = {name: fetch(service.uri, f"DESCRIBE local.proj1.{name}") for name in names}
        settle(engine)
        metrics = scrape(service.ops.port)
        assert metrics["fw_flight_sql_table_cache_tables"] == len(names)
        assert metrics["fw_flight_sql_table_cache_bytes"] > 0
        assert metrics["fw_flight_sql_table_cache_pending"] == 0

        # Without its parquet files, only the copy can answer.
        shutil.move(dataset.root, tmp_path / "moved")
        for name in names:
            warm = fetch(service.uri, f"SELECT * FROM local.proj1.{name}")
            assert warm.schema.equals(cold[name].schema, check_metadata=True), name
            assert warm.equals(cold[name]), name  # same rows in the same order
            # Names, DuckDB types and nullability of the view's columns.
            assert fetch(service.uri, f"DESCRIBE local.proj1.{name}").equals(cold_columns[name])
        shutil.move(tmp_path / "moved", dataset.root)
        for name in names:
            expected = duckdb_reference(dataset.latest.tables[name], "FROM t ORDER BY ALL")
            assert fetch(service.uri, f"FROM local.proj1.{name} ORDER BY ALL").equals(expected)

        copy = re.search(r"local\.proj1\.sessions .*now read from (t_[0-9a-f]{64})", caplog.text)
        assert copy is not None
        refused = [
            f"SELECT * FROM fw_table_cache.main.{copy[1]}",
            f'SELECT * FROM "FW_TABLE_CACHE"."Main"."{copy[1].upper()}"',
            f"SELECT * FROM fw_table_cache.{copy[1]}",
            f"WITH c AS (FROM Fw_Table_Cache.main.{copy[1]}) SELECT count(*) FROM c",
            f"SELECT 1 FROM local.proj1.sessions WHERE EXISTS (FROM fw_table_cache.main.{copy[1]})",
        ]
        for sql in refused:
            with pytest.raises(adbc_driver_manager.Error) as caught:
                fetch(service.uri, sql)
            assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND, sql
        with pytest.raises(QueryError) as error:
            engine.plan(f"SELECT * FROM {copy[1]}", QueryContext("fw_table_cache", "main"))
        assert error.value.kind == ErrorKind.NOT_FOUND
    assert list((tmp_path / "cache").iterdir()) == []  # stopping removes the cache file


def test_eviction_under_a_tiny_budget_returns_tables_to_parquet(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=5, versions=1)
    # Each small table takes one 256 KiB block: two fit, a third evicts the least used.
    runtime = Runtime(settings(dataset.root, tmp_path, "600KiB"))
    runtime.refresh()
    engine = runtime.engine
    try:
        expected = {}
        for name in ("subjects", "sessions", "conditions"):
            expected[name] = run(engine, f"FROM local.proj1.{name}")
            settle(engine)
        stats = engine.cache_stats()
        assert (stats.tables, stats.pending) == (2, 0) and stats.bytes <= 600 * 1024

        # Used again at once, the evicted table is not copied again (that would evict
        # another, and so on in a loop): it stays on parquet for a while.
        assert run(engine, "FROM local.proj1.subjects").equals(expected["subjects"])
        settle(engine)
        assert engine.cache_stats().tables == 2

        shutil.move(dataset.root, tmp_path / "moved")
        assert run(engine, "FROM local.proj1.conditions").equals(expected["conditions"])
        assert run(engine, "FROM local.proj1.sessions").equals(expected["sessions"])
        with pytest.raises(QueryError):  # evicted: back on its (now missing) files
            run(engine, "FROM local.proj1.subjects")
        shutil.move(tmp_path / "moved", dataset.root)
    finally:
        runtime.stop()


def test_a_failed_copy_is_logged_once_and_retried_after_a_refresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=5, versions=1)
    runtime = Runtime(settings(dataset.root, tmp_path, "1GiB"))
    runtime.refresh()
    engine = runtime.engine
    try:
        # Views are made on first use: plan once while the files are there (planning
        # queues no copy), so that the queries below fail reading, after queueing one.
        engine.plan("FROM local.proj1.subjects", QueryContext())
        shutil.move(dataset.root, tmp_path / "moved")
        for _ in range(2):  # both queries fail on the missing files; one copy is tried
            with pytest.raises(QueryError):
                run(engine, "FROM local.proj1.subjects")
            settle(engine)
        shutil.move(tmp_path / "moved", dataset.root)
        assert caplog.text.count("local.proj1.subjects (and 2 more names) stays on parquet") == 1

        expected = run(engine, "FROM local.proj1.subjects")
        settle(engine)
        assert engine.cache_stats().tables == 0  # not retried for this snapshot
        runtime.refresh()
        assert run(engine, "FROM local.proj1.subjects").equals(expected)
        settle(engine)
        assert engine.cache_stats().tables == 1
    finally:
        runtime.stop()


def test_tables_far_over_the_budget_are_never_tried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="flight_server.engine.table_cache")
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=5, versions=1)
    runtime = Runtime(settings(dataset.root, tmp_path, "1KiB"))
    runtime.refresh()
    try:
        expected = duckdb_reference(dataset.latest.tables["sessions"], "FROM t ORDER BY ALL")
        assert run(runtime.engine, "FROM local.proj1.sessions ORDER BY ALL").equals(expected)
        settle(runtime.engine)
        assert runtime.engine.cache_stats().tables == 0
        assert "table cache" not in caplog.text  # no copy was made, so none was measured
    finally:
        runtime.stop()


def test_a_new_version_is_not_answered_from_the_old_copy(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=6, versions=2)
    first, second = dataset.versions
    shutil.move(second.path, tmp_path / "unpublished")
    runtime = Runtime(settings(dataset.root, tmp_path, "1GiB"))
    runtime.refresh()
    engine = runtime.engine
    query = "FROM local.proj1.sessions ORDER BY ALL"
    try:
        old = run(engine, query)
        assert old.equals(duckdb_reference(first.tables["sessions"], "FROM t ORDER BY ALL"))
        settle(engine)
        assert engine.cache_stats().tables == 1

        shutil.move(tmp_path / "unpublished", second.path)
        runtime.refresh()
        new = duckdb_reference(second.tables["sessions"], "FROM t ORDER BY ALL")
        assert not new.equals(old)
        assert run(engine, query).equals(new)
        settle(engine)
        assert run(engine, query).equals(new)  # now from its own copy
        pinned = run(engine, 'FROM local."proj1@v1".sessions ORDER BY ALL')
        assert pinned.equals(old)  # the old copy still serves the pinned version
        assert engine.cache_stats().tables == 2
    finally:
        runtime.stop()


def test_a_warm_table_on_s3_is_read_without_storage_requests(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = "table-cache-test"
    s3_server.create_bucket(bucket)
    # Files over 64 KiB: smaller ones are held whole in memory by the footer-tail cache.
    local = write_dataset(str(tmp_path / "local"), subjects=300, versions=1)
    location = Location("s3", bucket, "proj1", s3_server.location_options())
    upload(local.root, open_location(location), location.root)
    runtime = Runtime(
        settings(f"s3://{bucket}/proj1", tmp_path, "1GiB", s3_server.location_options())
    )
    runtime.refresh()
    engine = runtime.engine
    query = "FROM local.proj1.files ORDER BY ALL"
    try:
        expected = duckdb_reference(local.latest.tables["files"], "FROM t ORDER BY ALL")
        assert run(engine, query).equals(expected)
        settle(engine)
        s3_server.clear_log()
        assert run(engine, query).equals(expected)
        assert [r for r in s3_server.requests if r.bucket == bucket] == []
    finally:
        runtime.stop()


def test_an_unusable_cache_directory_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file, not a directory")
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=2, versions=1)
    with (
        pytest.raises(StartupError, match="cannot open the table cache"),
        running_service(settings(dataset.root, tmp_path, "1GiB")),
    ):
        pass


@pytest.fixture(scope="module")
def large_dataset(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """A project whose files table (about 128,000 rows) is over one DuckDB row group, the
    least a copy is indexed at; its sessions table (30,000 rows) is under it."""
    root = tmp_path_factory.mktemp("large") / "proj1"
    return write_dataset(str(root), subjects=20_000, versions=1)


def test_large_copies_are_indexed_and_their_lookups_answer_as_parquet_did(
    large_dataset: GeneratedDataset, tmp_path: Path
) -> None:
    files = large_dataset.latest.tables["files"]
    columns = 'id, "parents.subject", "parents.session", "parents.acquisition"'
    picked = duckdb_reference(
        files, f'SELECT {columns} FROM t WHERE "parents.acquisition" IS NOT NULL ORDER BY id'
    ).to_pylist()
    first, second, third, fourth = picked[0], picked[1], picked[2], picked[-1]
    subjects = sorted({row["parents.subject"] for row in picked[:50]})
    lookups = [
        f"WHERE id = '{first['id']}'",
        f"WHERE \"parents.session\" = '{second['parents.session']}'",
        f"WHERE \"parents.subject\" = '{third['parents.subject']}'",
        'WHERE "parents.acquisition" IN '
        f"('{first['parents.acquisition']}', '{fourth['parents.acquisition']}')",
        "WHERE \"parents.session\" = 'no-such-session'",
        f"WHERE \"parents.subject\" BETWEEN '{subjects[0]}' AND '{subjects[3]}'",
        'WHERE "parents.acquisition" IS NULL',  # files of sessions and analyses
    ]
    expected = {where: duckdb_reference(files, f"FROM t {where} ORDER BY ALL") for where in lookups}
    assert all(expected[where].num_rows for where in lookups if "no-such" not in where)
    with running_service(settings(large_dataset.root, tmp_path, "1GiB")) as service:
        assert service.ops is not None
        for where in lookups:
            sql = f"FROM local.proj1.files {where} ORDER BY ALL"
            assert fetch(service.uri, sql).equals(expected[where]), where
        fetch(service.uri, "FROM local.proj1.sessions LIMIT 1")
        settle(service.runtime.engine)
        metrics = scrape(service.ops.port)
        # files: id and its three parents; sessions: one row group, not indexed.
        assert metrics["fw_flight_sql_table_cache_tables"] == 2
        assert metrics["fw_flight_sql_table_cache_indexes"] == 4

        # Without its parquet files, only the indexed copy can answer.
        moved = shutil.move(large_dataset.root, tmp_path / "moved")
        try:
            for where in lookups:
                sql = f"FROM local.proj1.files {where} ORDER BY ALL"
                assert fetch(service.uri, sql).equals(expected[where]), where
        finally:
            shutil.move(moved, large_dataset.root)


def test_a_copys_indexes_count_against_the_budget(
    large_dataset: GeneratedDataset, tmp_path: Path
) -> None:
    def cached(budget: str, index_columns: list[str] | None, scratch: str) -> tuple[int, int, int]:
        """Copies held, their bytes and their indexes once the files table was read."""
        runtime = Runtime(
            settings(large_dataset.root, tmp_path / scratch, budget, index_columns=index_columns)
        )
        runtime.refresh()
        try:
            run(runtime.engine, "FROM local.proj1.files WHERE id = 'f'")
            settle(runtime.engine)
            stats = runtime.engine.cache_stats()
            expected = duckdb_reference(large_dataset.latest.tables["files"], "FROM t ORDER BY ALL")
            assert run(runtime.engine, "FROM local.proj1.files ORDER BY ALL").equals(expected)
            return stats.tables, stats.bytes, stats.indexes
        finally:
            runtime.stop()

    held, plain, _ = cached("1GiB", [], "plain")
    assert held == 1
    _, indexed, indexes = cached("1GiB", None, "indexed")
    assert indexed > plain and indexes == 4
    # Under a budget the copy fits only without its indexes, it is held without them.
    between = (plain + indexed) // 2
    held, size, indexes = cached(str(between), None, "between")
    # The bare copy's own measure may differ from the plain run's by a block (which blocks
    # its segments share, or a WAL upper bound when a checkpoint had to wait).
    assert (held, indexes) == (1, 0) and size <= between


def test_a_copy_too_large_to_index_within_a_quarter_of_duckdbs_memory_serves_unindexed(
    large_dataset: GeneratedDataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="flight_server.engine.table_cache")
    configured = settings(large_dataset.root, tmp_path, "1GiB")
    # A quarter of 48 MB indexes about 98,000 rows: the files table has about 128,000.
    configured.engine.memory_limit = "48MB"
    runtime = Runtime(configured)
    runtime.refresh()
    try:
        where = "WHERE \"parents.session\" = 'no-such-session'"
        assert run(runtime.engine, f"FROM local.proj1.files {where}").num_rows == 0
        settle(runtime.engine)
        stats = runtime.engine.cache_stats()
        assert (stats.tables, stats.indexes) == (1, 0)
        assert "local.proj1.files (and 2 more names) is not indexed: " in caplog.text
    finally:
        runtime.stop()


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_a_table_too_large_to_index_stays_on_parquet_whose_bloom_filters_find_its_keys(
    storage: str,
    large_dataset: GeneratedDataset,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level("INFO", logger="flight_server.engine.table_cache")
    table = large_dataset.latest.tables["files"]
    # The same files rewritten by DuckDB, which writes bloom filters on the columns it
    # dictionary-encodes (parents.subject here); pyarrow, which wrote the originals, writes none.
    bloomed = tmp_path / "bloomed"
    shutil.copytree(large_dataset.root, bloomed)
    files = [bloomed / Path(path).relative_to(large_dataset.root) for path in table.files]
    for path in files:
        duckdb.execute(f"COPY (FROM read_parquet('{path}')) TO '{path}.new' (FORMAT parquet)")
        Path(f"{path}.new").replace(path)
    for metadata in map(pq.read_metadata, files):
        column = metadata.schema.names.index("parents.subject")
        for group in range(metadata.num_row_groups):
            assert metadata.row_group(group).column(column).bloom_filter_offset
    roots = {"bloomed": str(bloomed), "plain": large_dataset.root}
    options: dict[str, str] = {}
    if storage == "s3":
        s3_server: S3Server = request.getfixturevalue("s3_server")
        bucket = "table-cache-bloom"
        s3_server.create_bucket(bucket)
        options = s3_server.location_options()
        for name, local in list(roots.items()):
            location = Location("s3", bucket, name, options)
            upload(local, open_location(location), location.root)
            roots[name] = f"s3://{bucket}/{name}"

    subject = duckdb_reference(table, 'SELECT min("parents.subject") FROM t')[0][0].as_py()
    where = f"WHERE \"parents.subject\" = '{subject}' ORDER BY ALL"
    expected = duckdb_reference(table, f"FROM t {where}")
    assert expected.num_rows

    def copies(name: str) -> int:
        """Copies held once the files table was looked up in, under a memory limit too
        small to index it (a quarter of 48 MB indexes about 98,000 rows; it has 128,000)."""
        configured = settings(
            roots[name], tmp_path / name, "1GiB", options, index_columns=["parents.subject"]
        )
        configured.engine.memory_limit = "48MB"
        runtime = Runtime(configured)
        runtime.refresh()
        try:
            assert run(runtime.engine, f"FROM local.proj1.files {where}").equals(expected)
            settle(runtime.engine)
            assert run(runtime.engine, f"FROM local.proj1.files {where}").equals(expected)
            return runtime.engine.cache_stats().tables
        finally:
            runtime.stop()

    assert copies("bloomed") == 0
    assert "local.proj1.files (and 2 more names) stays on parquet: its " in caplog.text
    assert "bloom filters on parents.subject find keys faster" in caplog.text
    # Without bloom filters the copy is made, unindexed: scanning it beats scanning parquet.
    assert copies("plain") == 1
