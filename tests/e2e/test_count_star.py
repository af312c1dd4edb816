"""A bare ``count(*)`` of a many-file table is answered from the catalog's row counts.

DuckDB would open every file to add up the counts the footers already gave the catalog;
the answer, its column names and its types are DuckDB's own either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset, write_scan_table
from tests.support import duckdb_reference, running_server

FILES = 20  # past the engine's 16-file floor for rewriting queries


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, GeneratedDataset]]:
    dataset = write_scan_table(str(tmp_path / "scan"), rows=2_000, files=FILES)
    settings = Settings(
        datasets=[DatasetSettings(name="scan", location=dataset.root)],
        engine={"result_cache_bytes": 0},  # every answer below is worked out afresh
    )
    with running_server(settings) as uri:
        yield uri, dataset


def _fetch(uri: str, query: str) -> pa.Table:
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM t",
        "SELECT COUNT(*) AS n FROM t",
        "SELECT count(*) AS a, count(*) FROM t AS x",
    ],
)
def test_count_star_is_duckdb_s_answer(served: tuple[str, GeneratedDataset], query: str) -> None:
    uri, dataset = served
    expected = duckdb_reference(dataset.latest.tables["scan"], query)
    got = _fetch(uri, query.replace("FROM t", "FROM local.scan.scan"))
    assert got.schema.names == expected.schema.names
    assert got.schema.types == expected.schema.types == [pa.int64()] * len(expected.schema)
    assert got.to_pylist() == expected.to_pylist()
    assert got.column(0)[0].as_py() == 2_000


def test_count_star_reads_no_file(served: tuple[str, GeneratedDataset]) -> None:
    """With the table's files gone, the count still answers from the catalog; anything
    that must read rows fails on the missing files."""
    uri, dataset = served
    _fetch(uri, "SELECT * FROM local.scan.scan LIMIT 1")  # views are made on first use
    for path in dataset.latest.tables["scan"].files:
        Path(path).unlink()
    assert _fetch(uri, "SELECT count(*) AS n FROM local.scan.scan").to_pylist() == [{"n": 2_000}]
    for must_read in (
        "SELECT count(*) FROM local.scan.scan WHERE bucket > 0",
        "SELECT count(id) FROM local.scan.scan",
    ):
        with pytest.raises(adbc_driver_manager.Error, match="a data file is gone"):
            _fetch(uri, must_read)
