"""Incremental refresh, end to end: what did not change is kept, what changed is served.

A real server in process answers the real ADBC driver before and after each refresh;
answers are compared with plain DuckDB over the same parquet files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.config import CONFIG_ENV, DatasetSettings, Settings
from flight_server.configured_server import flight_sql_server
from flight_server.runtime import Runtime


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Settings built here: a config file another test named must not add datasets."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def write_version(root: Path, version: str, created: str, ids: list[list[int]]) -> list[str]:
    """One version of table ``t``, one parquet file per list of ids; returns the files."""
    folder = root / "versions" / version
    description = {"version": version, "version_label": version, "created": created}
    description["tables"] = {"t": {"description": "ids"}}
    (folder / "provenance").mkdir(parents=True)
    (folder / "provenance" / "dataset_description.json").write_text(json.dumps(description))
    (folder / "schemas").mkdir()
    (folder / "schemas" / "t.schema.json").write_text(json.dumps({"description": "ids"}))
    (folder / "tables" / "t").mkdir(parents=True)
    files = []
    for index, chunk in enumerate(ids):
        path = folder / "tables" / "t" / f"{index}.parquet"
        pq.write_table(pa.table({"id": pa.array(chunk, pa.int64())}), path)
        files.append(str(path))
    return files


@contextmanager
def serving(roots: dict[str, Path]) -> Iterator[tuple[Runtime, flight_sql.Connection]]:
    """A runtime serving ``roots`` (name → root) in process, and an ADBC connection to it."""
    datasets = [DatasetSettings(name=name, location=str(root)) for name, root in roots.items()]
    runtime = Runtime(Settings(datasets=datasets))
    runtime.refresh()
    server = flight_sql_server(runtime, "grpc://127.0.0.1:0")
    try:
        uri = f"grpc://127.0.0.1:{server.port}"
        with flight_sql.connect(uri, autocommit=True) as connection:
            yield runtime, connection
    finally:
        server.shutdown()


def query(connection: flight_sql.Connection, sql: str) -> pa.Table:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def reference(files: list[str], sql: str) -> pa.Table:
    """``sql`` over table ``t`` of ``files``, in plain DuckDB."""
    con = duckdb.connect()
    listed = ", ".join(f"'{path}'" for path in files)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet([{listed}])")
    return con.sql(sql).to_arrow_table()


SUM = "SELECT count(*) AS n, sum(id) AS total FROM {}"


def test_an_unchanged_refresh_keeps_every_object_and_answers_alike(tmp_path: Path) -> None:
    one = write_version(tmp_path / "a", "v1", "2024-01-01T00:00:00Z", [[1, 2], [3]])
    write_version(tmp_path / "b", "v1", "2024-01-01T00:00:00Z", [[10]])
    with serving({"a": tmp_path / "a", "b": tmp_path / "b"}) as (runtime, connection):
        before = runtime.snapshot
        answer = query(connection, SUM.format("local.a.t"))
        runtime.refresh()
        after = runtime.snapshot
        assert [d is e for d, e in zip(before.datasets, after.datasets, strict=True)] == [
            True,
            True,
        ]
        assert after.datasets[0].latest.tables["t"] is before.datasets[0].latest.tables["t"]
        assert query(connection, SUM.format("local.a.t")) == answer
        assert answer == reference(one, SUM.format("t"))


def test_a_new_version_and_a_deleted_file_show_on_the_next_refresh(tmp_path: Path) -> None:
    old = write_version(tmp_path / "a", "v1", "2024-01-01T00:00:00Z", [[1, 2], [3]])
    write_version(tmp_path / "b", "v1", "2024-01-01T00:00:00Z", [[10]])
    with serving({"a": tmp_path / "a", "b": tmp_path / "b"}) as (runtime, connection):
        sibling = runtime.snapshot.datasets[1]
        new = write_version(tmp_path / "a", "v2", "2024-02-01T00:00:00Z", [[4, 5, 6]])
        runtime.refresh()
        assert query(connection, SUM.format("local.a.t")) == reference(new, SUM.format("t"))
        assert query(connection, SUM.format('local."a@v1".t')) == reference(old, SUM.format("t"))
        Path(old[1]).unlink()
        runtime.refresh()
        pinned = query(connection, SUM.format('local."a@v1".t'))
        assert pinned == reference(old[:1], SUM.format("t"))
        assert pinned.to_pylist() == [{"n": 2, "total": 3}]
        assert runtime.snapshot.datasets[1] is sibling  # b never changed


def test_a_failing_dataset_stays_stale_beside_its_unchanged_sibling(tmp_path: Path) -> None:
    """Fault isolation holds: the last good state is served, marked stale, until it loads."""
    files = write_version(tmp_path / "a", "v1", "2024-01-01T00:00:00Z", [[1, 2]])
    write_version(tmp_path / "b", "v1", "2024-01-01T00:00:00Z", [[10]])
    with serving({"a": tmp_path / "a", "b": tmp_path / "b"}) as (runtime, connection):
        good, sibling = runtime.snapshot.datasets
        shutil.move(tmp_path / "a", tmp_path / "a-away")
        runtime.refresh()
        stale = runtime.snapshot.find("local", "a")
        assert stale is not None and stale.stale and "no dataset version" in stale.stale
        assert stale.latest is good.latest
        assert runtime.snapshot.find("local", "b") is sibling
        runtime.refresh()  # failing the same way: the same stale object
        assert runtime.snapshot.find("local", "a") is stale
        shutil.move(tmp_path / "a-away", tmp_path / "a")
        runtime.refresh()
        back = runtime.snapshot.find("local", "a")
        assert back is not None and back.stale is None
        assert query(connection, SUM.format("local.a.t")) == reference(files, SUM.format("t"))
