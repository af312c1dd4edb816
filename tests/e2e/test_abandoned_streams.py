"""Streams whose client left are closed out: the gauge returns to 0, shutdown is clean.

A client that asks for a stream and goes away before the server sends its schema leaves
pyarrow to drop the stream without ever starting it; such streams used to stay counted in
``fw_flight_sql_active_streams`` forever, holding a query slot and a DuckDB cursor, and
SIGTERM then printed ``nanobind: leaked ... DuckDBPyConnection``. The clients here are raw
gRPC DoGet calls cancelled after a spread of short delays, so some land in that window.
"""

from __future__ import annotations

import signal
import time

import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.config import LimitsSettings, Settings
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from tests.service_support import running_service, scrape
from tests.support import server_process

ENDLESS = "SELECT * FROM range(100000000000) t(x)"
# Cancel after 0, 0.5, 1, ... 29.5 ms: across the moment the server sends the schema.
DELAYS = [step / 2000 for step in range(60)]
DO_GET = "/arrow.flight.protocol.FlightService/DoGet"


def run(uri: str, sql: str) -> pa.Table:
    client = flight.connect(uri)
    command = commands.pack(pb.CommandStatementQuery(query=sql))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    return client.do_get(info.endpoints[0].ticket).read_all()


def abandon_streams(uri: str) -> None:
    """Start DoGets of an endless query and walk away from each after a short delay."""
    client = flight.connect(uri)
    command = commands.pack(pb.CommandStatementQuery(query=ENDLESS))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    request = info.endpoints[0].ticket.serialize()  # arrow.flight.protocol.Ticket
    with grpc.insecure_channel(uri.removeprefix("grpc://")) as channel:
        do_get = channel.unary_stream(DO_GET)
        for delay in DELAYS:
            call = do_get(request)
            time.sleep(delay)
            call.cancel()


def active_streams(port: int) -> float:
    return scrape(port)["fw_flight_sql_active_streams"]


def test_abandoned_streams_are_closed_out() -> None:
    limits = LimitsSettings(max_concurrent_queries=64, max_queries_per_user=64)
    with running_service(Settings(limits=limits)) as service:
        abandon_streams(service.uri)
        for _ in range(100):  # up to 10 s for the pulls to unwind
            if active_streams(service.ops.port) == 0:
                break
            time.sleep(0.1)
        assert active_streams(service.ops.port) == 0
        # Every slot is free again: a query runs at once.
        assert run(service.uri, "SELECT 42 AS x").column("x").to_pylist() == [42]


@pytest.mark.timeout(120)
def test_shutdown_after_abandoned_streams_is_clean() -> None:
    roomy = {
        "FW_FLIGHT_SQL_LIMITS__MAX_CONCURRENT_QUERIES": "64",
        "FW_FLIGHT_SQL_LIMITS__MAX_QUERIES_PER_USER": "64",
    }
    with server_process(env=roomy, read_output=True) as (uri, process):
        abandon_streams(uri)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "leaked" not in output, output
