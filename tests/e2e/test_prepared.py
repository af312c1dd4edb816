"""Prepared statements with parameters, through ADBC and through raw Flight SQL messages."""

from __future__ import annotations

import datetime
from decimal import Decimal

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.flightsql import commands, parameters
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.schemas import ColumnMetadataKey
from tests.e2e.test_query import duckdb_reference, fetch


def run(conn: flight_sql.Connection, query: str, params: object) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetch_arrow_table()


# -- through ADBC ---------------------------------------------------------------------------


def test_execute_with_parameters(conn: flight_sql.Connection, demo) -> None:
    query = "SELECT label, visit FROM {} WHERE visit = ? AND operator <> ? ORDER BY label"
    expected = duckdb_reference(
        demo.latest.tables["sessions"], query.format("t").replace("?", "{}").format(2, "''")
    )
    got = run(conn, query.format("local.proj1.sessions"), (2, ""))
    assert got.equals(expected)
    assert got.num_rows > 0


def test_parameter_types_round_trip(conn: flight_sql.Connection) -> None:
    values = (7, 2.5, "it's", True, datetime.date(2024, 2, 29), Decimal("12.34"), None)
    got = run(conn, "SELECT ? AS i, ? AS f, ? AS s, ? AS b, ? AS d, ? AS m, ? AS n", values)
    assert list(got.to_pylist()[0].values()) == list(values)


def test_several_parameter_rows_concatenate(conn: flight_sql.Connection) -> None:
    rows = pa.table({"visit": [1, 2, 3]})
    got = run(conn, "SELECT ? AS v, count(*) AS n FROM local.proj1.sessions WHERE visit = $1", rows)
    singles = [
        fetch(conn, f"SELECT {v} AS v, count(*) AS n FROM local.proj1.sessions WHERE visit = {v}")
        for v in (1, 2, 3)
    ]
    assert got.to_pylist() == [row for table in singles for row in table.to_pylist()]


def test_same_statement_rebinds(conn: flight_sql.Connection) -> None:
    with conn.cursor() as cur:
        for value in (1, 5, 9):
            cur.execute("SELECT ? * 10 AS x", (value,))
            assert cur.fetch_arrow_table().to_pylist() == [{"x": value * 10}]


def test_wrong_parameter_count_is_invalid(conn: flight_sql.Connection) -> None:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        run(conn, "SELECT ? AS a, ? AS b", (1,))
    assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT
    assert "2 parameter(s), 1 were bound" in str(caught.value)
    assert fetch(conn, "SELECT 1 AS ok").num_rows == 1


# -- raw Flight SQL -------------------------------------------------------------------------


def prepare(client: flight.FlightClient, query: str) -> pb.ActionCreatePreparedStatementResult:
    body = commands.pack(pb.ActionCreatePreparedStatementRequest(query=query))
    (result,) = client.do_action(flight.Action("CreatePreparedStatement", body))
    return commands.unpack(result.body.to_pybytes())


def bind(client: flight.FlightClient, handle: bytes, table: pa.Table) -> bytes:
    """DoPut parameters; return the handle the server sends back."""
    command = commands.pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    writer, reader = client.do_put(flight.FlightDescriptor.for_command(command), table.schema)
    writer.write_table(table)
    writer.done_writing()
    metadata = reader.read()
    writer.close()
    result = pb.DoPutPreparedStatementResult()
    result.ParseFromString(metadata.to_pybytes())
    assert result.HasField("prepared_statement_handle")
    return result.prepared_statement_handle


def execute(client: flight.FlightClient, handle: bytes) -> pa.Table:
    command = commands.pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    return client.do_get(info.endpoints[0].ticket).read_all()


def test_create_returns_dataset_and_parameter_schemas(server_uri: str) -> None:
    client = flight.connect(server_uri)
    result = prepare(client, "SELECT weight, label FROM local.proj1.sessions WHERE visit = ?")
    dataset = pa.ipc.read_schema(pa.py_buffer(result.dataset_schema))
    assert dataset.names == ["weight", "label"]
    weight = {k.decode(): v.decode() for k, v in dataset.field("weight").metadata.items()}
    assert weight[ColumnMetadataKey.TYPE_NAME] == "DECIMAL(10,2)"
    assert weight[ColumnMetadataKey.PRECISION] == "10"
    assert weight[ColumnMetadataKey.SCALE] == "2"
    assert weight[ColumnMetadataKey.IS_READ_ONLY] == "1"
    params = pa.ipc.read_schema(pa.py_buffer(result.parameter_schema))
    assert params.names == ["parameter_1"]
    no_params = prepare(client, "SELECT 1 AS one")
    assert no_params.parameter_schema == b""


def test_bound_handles_are_independent(server_uri: str) -> None:
    """Two callers binding the same handle never see each other's values."""
    client = flight.connect(server_uri)
    handle = prepare(client, "SELECT ? AS who").prepared_statement_handle
    first = bind(client, handle, pa.table({"p": ["alice"]}))
    second = bind(client, handle, pa.table({"p": ["bob"]}))
    assert execute(client, second).to_pylist() == [{"who": "bob"}]
    assert execute(client, first).to_pylist() == [{"who": "alice"}]
    with pytest.raises(pa.ArrowInvalid, match="parameters"):
        execute(client, handle)  # the original handle holds no binding


def test_oversized_binding_is_refused(server_uri: str) -> None:
    client = flight.connect(server_uri)
    handle = prepare(client, "SELECT ? AS blob").prepared_statement_handle
    big = pa.table({"p": ["x" * (parameters.MAX_PARAMETER_BYTES + 1)]})
    with pytest.raises(pa.ArrowInvalid, match="bound parameters"):
        bind(client, handle, big)
    small = bind(client, handle, pa.table({"p": ["ok"]}))
    assert execute(client, small).to_pylist() == [{"blob": "ok"}]


def test_updates_are_refused_and_close_works(server_uri: str) -> None:
    client = flight.connect(server_uri)
    command = commands.pack(pb.CommandStatementUpdate(query="DELETE FROM x"))
    writer, _ = client.do_put(flight.FlightDescriptor.for_command(command), pa.schema([]))
    with pytest.raises(flight.FlightUnauthorizedError, match="read-only"):
        writer.close()
    handle = prepare(client, "SELECT 1 AS one").prepared_statement_handle
    close = commands.pack(pb.ActionClosePreparedStatementRequest(prepared_statement_handle=handle))
    assert list(client.do_action(flight.Action("ClosePreparedStatement", close))) == []
