"""Results do not depend on the server host's time zone.

DuckDB starts in the host's zone (``TZ``), which labels tz-aware results and shifts
time-zone-dependent SQL. The server pins its own zone (UTC unless configured); tested
with a server started under ``TZ=America/New_York``, where the two differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset
from flight_server.engine import QueryContext
from flight_server.runtime import Runtime
from tests.support import server_process

HOST_ZONE = "America/New_York"


@pytest.fixture(scope="module")
def conn(demo: GeneratedDataset) -> Iterator[flight_sql.Connection]:
    with (
        server_process("--dataset", f"proj1={demo.root}", env={"TZ": HOST_ZONE}) as (uri, _),
        flight_sql.connect(uri, autocommit=True) as conn,
    ):
        yield conn


def fetch(conn: flight_sql.Connection, sql: str) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def test_utc_columns_keep_their_label(conn: flight_sql.Connection) -> None:
    result = fetch(conn, "SELECT timestamp FROM local.proj1.sessions LIMIT 1")
    assert result.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    schema = conn.adbc_get_table_schema(
        "sessions", catalog_filter="local", db_schema_filter="proj1"
    )
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")


def test_zone_dependent_sql_does_not_follow_the_host(conn: flight_sql.Connection) -> None:
    # 03:00 UTC on 1 January is still 31 December in New York.
    row = fetch(
        conn,
        "SELECT CAST(TIMESTAMPTZ '2024-01-01 03:00:00+00' AS DATE) AS day,"
        " date_trunc('day', TIMESTAMPTZ '2024-01-01 03:00:00+00') AS midnight,"
        " strftime(TIMESTAMPTZ '2024-01-01 03:00:00+00', '%H') AS hour",
    ).to_pylist()[0]
    assert row["day"] == dt.date(2024, 1, 1)
    assert row["midnight"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert row["hour"] == "03"


def test_the_zone_is_configurable(demo: GeneratedDataset) -> None:
    settings = Settings(
        datasets=[DatasetSettings(name="proj1", location=demo.root)],
        engine={"time_zone": "Asia/Tokyo"},
    )
    runtime = Runtime(settings)
    plan = runtime.engine.plan("SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' AS t", QueryContext())
    assert plan.schema.field("t").type == pa.timestamp("us", tz="Asia/Tokyo")


def test_settings_reach_the_cursors_queries_run_on(demo: GeneratedDataset) -> None:
    """Session settings on the engine's own connection would not reach query cursors."""
    runtime = Runtime(Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)]))
    cursor = runtime.engine._db.cursor()
    rows = cursor.sql(
        "SELECT current_setting('TimeZone'), current_setting('parquet_metadata_cache')"
    ).fetchall()
    assert rows == [("UTC", True)]
