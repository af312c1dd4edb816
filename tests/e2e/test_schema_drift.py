"""Tables whose files have many schemas (drift across exports) read as DuckDB reads them.

Past ``MAX_UNION_GROUPS`` schema groups a table's view is one scan unioning files by name
rather than a union of its groups; either way its columns, types and rows are those of
in-process DuckDB over the same files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import write_scan_table
from flight_server.demo.scan import SCAN
from flight_server.engine.sql_text import MAX_UNION_GROUPS
from tests.support import running_server

#: Dataset name by schema groups: under the union's limit, and past it.
GROUPS = {"few": 3, "many": MAX_UNION_GROUPS + 8}


def _drifting_dataset(root: Path, groups: int) -> list[str]:
    """A one-table dataset whose files fall into ``groups`` schemas; returns every file."""
    table = write_scan_table(str(root), rows=5, files=1)
    folder = Path(table.latest.tables["scan"].files[0]).parent
    for group in range(1, groups):
        columns = {
            "id": pa.array([1000 * group + i for i in range(3)], pa.int64()),
            "value": pa.array([group + 0.5] * 3),
            f"extra_{group}": pa.array([f"g{group}"] * 3),
        }
        if group % 2:
            columns["bucket"] = pa.array([group] * 3, pa.int64())  # int32 elsewhere: widened
        pq.write_table(pa.table(columns), folder / f"drift-{group:03d}.parquet")
    return sorted(str(path) for path in folder.glob("*.parquet"))


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, list[str]]]]:
    base = tmp_path_factory.mktemp("drift")
    files = {name: _drifting_dataset(base / name, groups) for name, groups in GROUPS.items()}
    settings = Settings(
        datasets=[DatasetSettings(name=name, location=str(base / name)) for name in GROUPS]
    )
    with running_server(settings) as uri:
        yield uri, files


def _reference(files: list[str], query: str) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    listed = ", ".join(f"'{path}'" for path in files)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet([{listed}], union_by_name = true)")
    return con.sql(query).to_arrow_table()


@pytest.mark.parametrize("name", list(GROUPS))
def test_drifting_table_reads_as_duckdb_does(
    drift: tuple[str, dict[str, list[str]]], name: str
) -> None:
    uri, files = drift
    query = "SELECT * FROM t ORDER BY id"
    expected = _reference(files[name], query)
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(query.replace("FROM t", f"FROM local.{name}.scan"))
        got = cur.fetch_arrow_table()
        assert got.schema.names == expected.schema.names
        assert got.schema.field("bucket").type == pa.int64()
        assert got.cast(expected.schema).equals(expected)
        assert len(got.schema.names) == len(SCAN.file_schema()) + GROUPS[name] - 1
        rows = got.to_pylist()
        for limit in (2, 8):  # the first file (5 rows), then files of two schema groups
            cur.execute(f"SELECT * FROM local.{name}.scan LIMIT {limit}")
            first = cur.fetch_arrow_table()
            assert first.schema.equals(got.schema) and first.num_rows == limit
            assert all(row in rows for row in first.to_pylist())
        cur.execute(f"SELECT count(extra_1) AS n FROM local.{name}.scan WHERE bucket IS NULL")
        assert cur.fetch_arrow_table().to_pylist() == [{"n": 0}]
