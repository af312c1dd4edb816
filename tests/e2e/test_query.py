"""Queries through the real ADBC driver equal in-process DuckDB over the same files."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from flightsql import FlightSQLClient
from flightsql import connect as dbapi_connect

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from tests.conftest import TEST_TOKEN
from tests.support import duckdb_reference, running_server


def fetch(conn: flight_sql.Connection, query: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


def test_every_table_equals_duckdb(conn: flight_sql.Connection, demo: GeneratedDataset) -> None:
    for name, table in demo.latest.tables.items():
        expected = duckdb_reference(table, "SELECT * FROM t ORDER BY ALL")
        got = fetch(conn, f"SELECT * FROM local.proj1.{name} ORDER BY ALL")
        assert got.schema.equals(expected.schema), name
        assert got.equals(expected), name
        assert got.num_rows == table.rows, name


def test_types_round_trip(conn: flight_sql.Connection) -> None:
    schema = fetch(conn, "SELECT * FROM local.proj1.sessions LIMIT 1").schema
    types = {field.name: field.type for field in schema}
    assert types["age"] == pa.int64()
    assert types["visit"] == pa.int32()
    assert types["bmi"] == pa.float64()
    assert types["weight"] == pa.decimal128(10, 2)
    assert types["session_date"] == pa.date32()
    assert types["timestamp_local"] == pa.timestamp("us")
    assert pa.types.is_timestamp(types["timestamp"]) and types["timestamp"].tz is not None
    assert types["operator"] == pa.utf8()
    assert pa.types.is_list(types["tags"]) and types["tags"].value_type == pa.utf8()
    assert types["completed"] == pa.bool_()


# One column of each kind of DuckDB type, including names and types whose spelling needs
# quoting, so planning's schema is checked against what execution streams.
EVERY_TYPE = (
    "SELECT 1::TINYINT a, 2::UTINYINT b, 3::HUGEINT c, 4::UHUGEINT d, 1.5::DECIMAL(18,3) e, "
    " 2.5::DECIMAL(38,10) f, 'x'::VARCHAR g, 'y'::BLOB h, uuid() i, INTERVAL 3 DAY j, "
    " TIMESTAMPTZ '2024-01-01 00:00:00+00' k, TIMESTAMP_NS '2024-01-01' l, "
    " TIMESTAMP_S '2024-01-01' m, TIMESTAMP_MS '2024-01-01' n, TIME '10:00' o, "
    " '10:00:00+01'::TIMETZ p, DATE '2024-01-01' q, "
    " [1, 2]::INTEGER[] r, [1, 2, 3]::INTEGER[3] s, {'odd \"name\"': 1, 'b c': [true]} t, "
    " MAP {'k': 1.5} u, 'a'::ENUM('a', 'b c') v, ['b c'::ENUM('a', 'b c')] ve, "
    " union_value(num := 2)::UNION(num INTEGER, str VARCHAR) w, '101'::BIT x, NULL y, "
    ' 1::BIGINT "dup", 2 "dup", [{\'a\': NULL::VARCHAR}] z, \'{"a": 1}\'::JSON bb, '
    ' 1::SMALLINT "odd ""col""" '
)


def test_planned_schema_is_the_streamed_schema_for_every_type(server_uri: str) -> None:
    client = flight.connect(server_uri)
    for query in (EVERY_TYPE, f"SELECT * FROM local.proj1.sessions, ({EVERY_TYPE}) LIMIT 1"):
        descriptor = flight.FlightDescriptor.for_command(
            commands.pack(pb.CommandStatementQuery(query=query))
        )
        info = client.get_flight_info(descriptor)
        streamed = client.do_get(info.endpoints[0].ticket).read_all()
        assert streamed.num_rows == 1
        assert info.schema.equals(streamed.schema), query
        # ENUMs arrive as their strings (a stream of dictionaries is refused by clients).
        assert streamed.select(["v", "ve"]).to_pylist() == [{"v": "a", "ve": ["b c"]}]
        # A second plan with other literals of the same types reuses the first; still exact.
        renamed = query.replace("1::TINYINT a", "7::TINYINT a")
        again = client.get_flight_info(
            flight.FlightDescriptor.for_command(
                commands.pack(pb.CommandStatementQuery(query=renamed))
            )
        )
        assert again.schema.equals(streamed.schema)


def test_nulls_and_empty_strings_survive(
    conn: flight_sql.Connection, demo: GeneratedDataset
) -> None:
    query = (
        "SELECT count(*) FILTER (WHERE operator IS NULL), count(*) FILTER (WHERE operator = ''),"
        " count(*) FILTER (WHERE completed IS NULL), count(*) FILTER (WHERE tags IS NULL) FROM t"
    )
    expected = duckdb_reference(demo.latest.tables["sessions"], query)
    got = fetch(conn, query.replace("FROM t", "FROM local.proj1.sessions"))
    assert got.equals(expected)
    assert all(value > 0 for value in got.to_pylist()[0].values())


def test_dotted_columns_and_group_by(conn: flight_sql.Connection, demo: GeneratedDataset) -> None:
    query = 'SELECT "parents.subject", count(*) AS n FROM t GROUP BY 1 ORDER BY 1'
    expected = duckdb_reference(demo.latest.tables["sessions"], query)
    got = fetch(conn, query.replace("FROM t", "FROM local.proj1.sessions"))
    assert got.equals(expected)
    assert got.num_rows == 30


def test_files_of_one_table_are_unioned_by_name(conn: flight_sql.Connection) -> None:
    got = fetch(
        conn,
        "SELECT count(*) AS n, count(response_time) AS with_rt FROM local.proj1.conditions",
    ).to_pylist()[0]
    assert got["n"] == 22 and 0 < got["with_rt"] < got["n"]


def test_hive_folders_become_columns(conn: flight_sql.Connection, demo: GeneratedDataset) -> None:
    query = "SELECT modality, count(*) AS n FROM t GROUP BY 1 ORDER BY 1"
    expected = duckdb_reference(demo.latest.tables["acquisitions"], query)
    got = fetch(conn, query.replace("FROM t", "FROM local.proj1.acquisitions"))
    assert got.equals(expected)
    assert got.column("modality").to_pylist() == ["CT", "MR"]


def test_empty_table_keeps_its_columns(conn: flight_sql.Connection) -> None:
    got = fetch(conn, "SELECT * FROM local.proj1.qc_results")
    assert got.num_rows == 0
    assert "qc.passed" in got.schema.names and got.schema.field("qc.passed").type == pa.bool_()


def test_pinned_versions_by_label_and_id(
    conn: flight_sql.Connection, demo: GeneratedDataset
) -> None:
    counts = demo.row_counts()
    oldest, latest = demo.versions[0], demo.latest
    assert counts[oldest.label]["sessions"] < counts[latest.label]["sessions"]
    for schema, label in [
        ("proj1", latest.label),
        (f'"proj1@{oldest.label}"', oldest.label),
        (f'"proj1@{oldest.id}"', oldest.label),
        (f'"proj1@{latest.label}"', latest.label),
    ]:
        got = fetch(conn, f"SELECT count(*) AS n FROM local.{schema}.sessions").to_pylist()[0]["n"]
        assert got == counts[label]["sessions"], schema


def test_broken_versions_are_skipped_not_fatal(
    conn: flight_sql.Connection, demo: GeneratedDataset
) -> None:
    assert demo.broken, "the fixture must contain broken version folders"
    latest_rows = demo.row_counts()[demo.latest.label]["subjects"]
    got = fetch(conn, "SELECT count(*) AS n FROM local.proj1.subjects").to_pylist()[0]["n"]
    assert got == latest_rows


@pytest.mark.parametrize("layout", ["legacy_a", "legacy_b"])
def test_legacy_layouts(
    conn: flight_sql.Connection, legacy: dict[str, GeneratedDataset], layout: str
) -> None:
    dataset = legacy[layout]
    counts = dataset.row_counts()
    for version in dataset.versions:
        got = fetch(conn, f'SELECT count(*) AS n FROM local."{layout}@{version.label}".sessions')
        assert got.to_pylist()[0]["n"] == counts[version.label]["sessions"]
    latest = fetch(conn, f"SELECT count(*) AS n FROM local.{layout}.sessions").to_pylist()[0]["n"]
    assert latest == counts[dataset.latest.label]["sessions"]


def test_single_dataset_is_the_default_schema(demo: GeneratedDataset) -> None:
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    with running_server(settings) as uri, flight_sql.connect(uri) as conn:
        assert fetch(conn, "SELECT count(*) AS n FROM sessions").to_pylist()[0]["n"] > 0


def test_configured_default_schema(
    demo: GeneratedDataset, legacy: dict[str, GeneratedDataset]
) -> None:
    settings = Settings(
        datasets=[
            DatasetSettings(name="proj1", location=demo.root),
            DatasetSettings(name="old", location=legacy["legacy_b"].root),
        ],
        default_catalog="local",
        default_schema="old",
    )
    expected = legacy["legacy_b"].row_counts()[legacy["legacy_b"].latest.label]["sessions"]
    with running_server(settings) as uri, flight_sql.connect(uri) as conn:
        assert fetch(conn, "SELECT count(*) AS n FROM sessions").to_pylist()[0]["n"] == expected


def test_pandas(conn: flight_sql.Connection, demo: GeneratedDataset) -> None:
    with conn.cursor() as cur:
        cur.execute('SELECT "parents.subject", count(*) AS n FROM local.proj1.sessions GROUP BY 1')
        df = cur.fetch_df()
    assert isinstance(df, pd.DataFrame)
    assert df["n"].sum() == demo.row_counts()[demo.latest.label]["sessions"]


def test_polars(conn: flight_sql.Connection, demo: GeneratedDataset) -> None:
    df = pl.read_database("SELECT * FROM local.proj1.files", conn)
    assert isinstance(df, pl.DataFrame)
    assert df.height == demo.row_counts()[demo.latest.label]["files"]
    assert "classification.Custom" in df.columns


def test_second_independent_client(server_uri: str, demo: GeneratedDataset) -> None:
    port = int(server_uri.rsplit(":", 1)[1])
    # This client always sends a bearer token (``Bearer None`` without one).
    client = FlightSQLClient(host="127.0.0.1", port=port, insecure=True, token=TEST_TOKEN)
    connection = dbapi_connect(client)
    cursor = connection.cursor()
    cursor.execute("SELECT count(*) FROM local.proj1.acquisitions")
    assert cursor.fetchone()[0] == demo.row_counts()[demo.latest.label]["acquisitions"]
    connection.close()
