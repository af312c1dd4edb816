"""CancelFlightInfo, the deprecated CancelQuery and call cancellation stop DuckDB's work."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.flightsql import commands
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql import flight_sql_pb2 as pb

# Ten billion joined rows: minutes of work, all of it before the first batch.
SLOW = (
    "SELECT count(*) AS n FROM local.proj1.files a, local.proj1.files b,"
    " local.proj1.files c, local.proj1.files d"
)


def plan(client: flight.FlightClient, query: str) -> flight.FlightInfo:
    command = commands.pack(pb.CommandStatementQuery(query=query))
    return client.get_flight_info(flight.FlightDescriptor.for_command(command))


def start_reading(client: flight.FlightClient, info: flight.FlightInfo) -> dict:
    """Read the first endpoint in a thread; the dict gets its error and end time."""
    outcome: dict = {}

    def read() -> None:
        try:
            client.do_get(info.endpoints[0].ticket).read_all()
        except flight.FlightError as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    outcome["thread"] = threading.Thread(target=read, daemon=True)
    outcome["thread"].start()
    time.sleep(0.5)  # let DuckDB get going
    assert outcome["thread"].is_alive()
    return outcome


def assert_idle(seconds: float = 1.0) -> None:
    """This process (and so the in-process server's DuckDB) burns almost no CPU."""
    time.sleep(0.2)
    before = time.process_time()
    time.sleep(seconds)
    assert time.process_time() - before < 0.3 * seconds


def assert_still_serving(client: flight.FlightClient) -> None:
    info = plan(client, "SELECT 42 AS answer")
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"answer": 42}]


def test_cancel_flight_info_stops_the_query(server_uri: str) -> None:
    client = flight.connect(server_uri)
    info = plan(client, SLOW)
    outcome = start_reading(client, info)
    asked = time.monotonic()
    request = spb.CancelFlightInfoRequest(info=info.serialize())
    (reply,) = client.do_action(flight.Action("CancelFlightInfo", request.SerializeToString()))
    result = spb.CancelFlightInfoResult()
    result.ParseFromString(reply.body.to_pybytes())
    assert result.status == spb.CANCEL_STATUS_CANCELLED
    outcome["thread"].join(10)
    assert isinstance(outcome.get("error"), flight.FlightCancelledError)
    assert outcome["ended"] - asked < 2
    assert_idle()
    assert_still_serving(client)


def test_deprecated_cancel_query_action(server_uri: str) -> None:
    client = flight.connect(server_uri)
    info = plan(client, SLOW)
    outcome = start_reading(client, info)
    body = commands.pack(pb.ActionCancelQueryRequest(info=info.serialize()))
    (reply,) = client.do_action(flight.Action("CancelQuery", body))
    result = commands.unpack(reply.body.to_pybytes())
    assert result.result == pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
    outcome["thread"].join(10)
    assert isinstance(outcome.get("error"), flight.FlightCancelledError)
    # Nothing is running for it any more.
    (reply,) = client.do_action(flight.Action("CancelQuery", body))
    result = commands.unpack(reply.body.to_pybytes())
    assert result.result == pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE


def test_client_going_away_stops_the_query(server_uri: str) -> None:
    client = flight.connect(server_uri)
    info = plan(client, SLOW)
    options = flight.FlightCallOptions(timeout=1.0)
    with pytest.raises(flight.FlightTimedOutError):
        client.do_get(info.endpoints[0].ticket, options=options).read_all()
    assert_idle()
    assert_still_serving(client)


def test_cancel_needs_a_ticket_of_ours(server_uri: str) -> None:
    client = flight.connect(server_uri)
    forged = flight.FlightInfo(
        pa.schema([]),
        flight.FlightDescriptor.for_command(b"x"),
        [flight.FlightEndpoint(b"fwt1.forged.ticket", [])],
        -1,
        -1,
    )
    request = spb.CancelFlightInfoRequest(info=forged.serialize())
    with pytest.raises(pa.ArrowInvalid, match="invalid ticket"):
        list(client.do_action(flight.Action("CancelFlightInfo", request.SerializeToString())))
    with pytest.raises(pa.ArrowInvalid, match="malformed"):
        body = spb.CancelFlightInfoRequest(info=b"\xff\x00garbage").SerializeToString()
        list(client.do_action(flight.Action("CancelFlightInfo", body)))
    assert_still_serving(client)
