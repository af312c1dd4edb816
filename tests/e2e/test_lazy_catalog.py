"""The lazy catalog (issue 18): a refresh reads listings only; a table's footers are read on
its first use and kept within ``limits.loaded_files``, the least recently used evicted.

Through the real service and the real ADBC driver: start-up and listings without columns
read no footer (the ``fw_flight_sql_catalog_loaded_files`` gauge, and data files that are
not parquet at all), pinned versions cost nothing until queried, and a table evicted and
read again answers, types and remarks included, exactly as one loaded once.
"""

from __future__ import annotations

from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset, write_dataset
from tests.service_support import running_service, scrape
from tests.support import duckdb_reference, running_server

_LOADED = "fw_flight_sql_catalog_loaded_files"
_REMARKS = b"ARROW:FLIGHT:SQL:REMARKS"
_QUERIES = (
    "SELECT count(*) AS n FROM t",
    "SELECT * FROM t ORDER BY ALL",
    "SELECT count(*) AS n FROM (SELECT DISTINCT * FROM t)",
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """Two versions; small chunks, so tables have several files each."""
    root = tmp_path_factory.mktemp("lazy") / "proj"
    return write_dataset(str(root), subjects=8, versions=2, chunk_rows=5)


def _settings(dataset: GeneratedDataset, **limits: int) -> Settings:
    return Settings(
        datasets=[DatasetSettings(name="proj1", location=dataset.root)],
        limits=limits,
        refresh_seconds=0,
    )


def _fetch(uri: str, sql: str) -> pa.Table:
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def _objects(uri: str, depth: str) -> pa.Table:
    with flight_sql.connect(uri, autocommit=True) as conn:
        return conn.adbc_get_objects(depth=depth).read_all()


def _table_schema(uri: str, table: str) -> pa.Schema:
    with flight_sql.connect(uri, autocommit=True) as conn:
        return conn.adbc_get_table_schema(table, db_schema_filter="proj1", catalog_filter="local")


def test_start_up_and_table_listings_read_no_footer(dataset: GeneratedDataset) -> None:
    with running_service(_settings(dataset)) as service:
        assert service.ops is not None
        assert scrape(service.ops.port)[_LOADED] == 0
        listed = _objects(service.uri, "tables")
        assert listed.num_rows == 1
        assert scrape(service.ops.port)[_LOADED] == 0  # names only: no footer read
        sessions = dataset.latest.tables["sessions"]
        _fetch(service.uri, "SELECT count(*) FROM local.proj1.sessions")
        # Only the table used is loaded: not its siblings, not its pinned versions.
        assert scrape(service.ops.port)[_LOADED] == len(sessions.files)
        oldest = dataset.versions[0]
        _fetch(service.uri, f'SELECT count(*) FROM local."proj1@{oldest.label}".sessions')
        held = len(sessions.files) + len(oldest.tables["sessions"].files)
        assert scrape(service.ops.port)[_LOADED] == held


def test_a_site_of_unreadable_files_starts_and_lists(tmp_path: Path) -> None:
    """Files that are not parquet at all cost nothing until a query needs them."""
    generated = write_dataset(str(tmp_path / "proj"), subjects=2, versions=1)
    for table in generated.latest.tables.values():
        for path in table.files:
            Path(path).write_bytes(b"not parquet")
    with running_server(_settings(generated)) as uri:
        names = _objects(uri, "tables").to_pylist()
        schemas = names[0]["catalog_db_schemas"]
        listed = {t["table_name"] for s in schemas for t in s["db_schema_tables"]}
        assert listed == set(generated.latest.tables)
        with pytest.raises(flight_sql.InternalError, match="is truncated or corrupt"):
            _fetch(uri, "SELECT * FROM local.proj1.subjects")


def test_evicted_tables_answer_as_tables_loaded_once(dataset: GeneratedDataset) -> None:
    tables = dataset.latest.tables
    # Room for the largest table only: every use of another table evicts the one before.
    budget = max(len(table.files) for table in tables.values())
    with running_service(_settings(dataset, loaded_files=budget)) as small:
        assert small.ops is not None
        cold_objects = _objects(small.uri, "all")
        cold = {name: _table_schema(small.uri, name) for name in tables}
        for _round in range(2):  # the second round reads every table again
            for name, table in tables.items():
                for query in _QUERIES:
                    sql = query.replace(" t", f" local.proj1.{name}", 1)
                    assert _fetch(small.uri, sql) == duckdb_reference(table, query), sql
                assert scrape(small.ops.port)[_LOADED] <= budget
        reloaded = {name: _table_schema(small.uri, name) for name in tables}
        reloaded_objects = _objects(small.uri, "all")
    with running_server(_settings(dataset)) as uri:
        for name in tables:  # loaded once, by a query, before any schema is asked for
            _fetch(uri, f"SELECT count(*) FROM local.proj1.{name}")
        loaded = {name: _table_schema(uri, name) for name in tables}
        loaded_objects = _objects(uri, "all")
    for name in tables:
        assert cold[name].equals(loaded[name], check_metadata=True), name
        assert reloaded[name].equals(loaded[name], check_metadata=True), name
    assert cold_objects == loaded_objects == reloaded_objects
    # The remarks come through the lazy path too (from the schema files).
    remarks = {f.name: (f.metadata or {}).get(_REMARKS) for f in cold["sessions"]}
    described = dataset.latest.tables["sessions"].column_descriptions
    assert described and all(remarks[c] == text.encode() for c, text in described.items())
