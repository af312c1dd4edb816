"""Limits and bad input against real servers: time limit, query slots, spill, sizes, fuzz."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight_server.config import EngineSettings, LimitsSettings, Settings
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from tests.service_support import running_service, scrape
from tests.support import running_server

# Runs for minutes unless stopped: about 10^12 rows through a join and an aggregate.
ENDLESS = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
# Streams batches as fast as the client reads them, practically forever.
STREAMING = "SELECT * FROM range(100000000000)"
# A hash aggregate that holds far more than 100MB of groups.
BIG_GROUPS = "SELECT count(*) FROM (SELECT range % 20000000 AS k FROM range(20000000) GROUP BY k)"


def statement(sql: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(commands.pack(pb.CommandStatementQuery(query=sql)))


@pytest.fixture(scope="module")
def limited() -> Iterator[str]:
    """A server with a short time limit and a single query slot."""
    limits = LimitsSettings(query_timeout_seconds=1, max_concurrent_queries=1, queue_seconds=0.2)
    with running_server(Settings(limits=limits)) as uri:
        yield uri


def test_a_query_past_its_time_limit_is_deadline_exceeded(limited: str) -> None:
    with (
        flight_sql.connect(limited) as conn,
        conn.cursor() as cur,
        pytest.raises(adbc_driver_manager.Error) as caught,
    ):
        cur.execute(ENDLESS)
        cur.fetchall()
    assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
    assert "time limit" in str(caught.value)


def test_queries_beyond_the_cap_wait_then_get_unavailable(limited: str) -> None:
    client = flight.connect(limited)
    streaming = client.get_flight_info(statement(STREAMING)).endpoints[0].ticket
    quick = client.get_flight_info(statement("SELECT 42 AS answer")).endpoints[0].ticket
    holder = client.do_get(streaming)
    holder.read_chunk()  # the stream now holds the only slot
    with pytest.raises(flight.FlightUnavailableError, match="server busy"):
        client.do_get(quick).read_all()
    holder.cancel()
    # The slot is free again once the cancelled stream has unwound.
    for _ in range(100):
        with contextlib.suppress(flight.FlightUnavailableError):
            assert client.do_get(quick).read_all().column(0)[0].as_py() == 42
            break
    else:
        pytest.fail("the query slot was never released")


def test_a_fast_stream_is_stopped_at_its_time_limit_too(limited: str) -> None:
    client = flight.connect(limited)
    reader = client.do_get(client.get_flight_info(statement(STREAMING)).endpoints[0].ticket)
    with pytest.raises(flight.FlightTimedOutError, match="time limit"):
        while True:
            reader.read_chunk()


def test_a_query_larger_than_the_memory_limit_spills(tmp_path: Path) -> None:
    engine = EngineSettings(memory_limit="100MB", temp_directory=str(tmp_path / "spill"))
    with (
        running_server(Settings(engine=engine)) as uri,
        flight_sql.connect(uri) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(BIG_GROUPS)
        assert cur.fetchone()[0] == 20_000_000


@pytest.mark.parametrize(
    "descriptor, message",
    [
        (statement("SELECT 1 -- " + "x" * 1_100_000), "the SQL text"),
        (flight.FlightDescriptor.for_command(b"\x00" * 4_100_000), "the descriptor"),
        (flight.FlightDescriptor.for_path("a" * 4_100_000, "b", "c"), "the descriptor"),
    ],
)
def test_oversized_requests_are_invalid(
    server_uri: str, descriptor: flight.FlightDescriptor, message: str
) -> None:
    client = flight.connect(server_uri)
    with pytest.raises(pa.ArrowInvalid, match=message):
        client.get_flight_info(descriptor)
    with pytest.raises(pa.ArrowInvalid, match="the ticket"):
        client.do_get(flight.Ticket(b"t" * 4_100_000)).read_all()
    assert_still_serving(server_uri)


def _any(type_name: str, value: bytes) -> bytes:
    return any_pb2.Any(type_url=f"type.googleapis.com/{type_name}", value=value).SerializeToString()


@pytest.mark.parametrize(
    "command, error",
    [
        # Field 1 (query) holding bytes that are not UTF-8.
        (_any("arrow.flight.protocol.sql.CommandStatementQuery", b"\x0a\x02\xff\xfe"), "malformed"),
        (_any("arrow.flight.protocol.sql.CommandStatementQuery", b"\x0a\x80"), "malformed"),
        (_any("arrow.flight.protocol.sql.NoSuchCommand", b""), "unsupported command"),
        (b"\xff\xff\xff garbage", "malformed"),
    ],
)
def test_malformed_commands_are_clear_errors(server_uri: str, command: bytes, error: str) -> None:
    client = flight.connect(server_uri)
    descriptor = flight.FlightDescriptor.for_command(command)
    for call in (client.get_flight_info, client.get_schema):
        with pytest.raises((pa.ArrowInvalid, pa.ArrowNotImplementedError), match=error):
            call(descriptor)
    body = b"\x0a\x02\xff\xfe"  # ActionCreatePreparedStatementRequest.query, not UTF-8
    with pytest.raises(pa.ArrowInvalid, match="malformed"):
        list(client.do_action(flight.Action("CreatePreparedStatement", body)))
    for ticket in (b"", b"garbage", b"fwt1.!!!.???", b"fwt1." + b"A" * 100):
        with pytest.raises(pa.ArrowInvalid, match="ticket"):
            client.do_get(flight.Ticket(ticket)).read_all()
    assert_still_serving(server_uri)


def assert_still_serving(uri: str) -> None:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM local.proj1.sessions")
        assert cur.fetchone()[0] > 0


# -- fuzzing ---------------------------------------------------------------------------------

_MESSAGES = [getattr(pb, name) for name in pb.DESCRIPTOR.message_types_by_name]


@st.composite
def protobuf_commands(draw: st.DrawFn) -> bytes:
    """A Flight SQL message of a random type with random values in random fields."""
    message_type = draw(st.sampled_from(_MESSAGES))
    message = message_type()
    for field in message_type.DESCRIPTOR.fields:
        if field.message_type is not None or not draw(st.booleans()):
            continue
        value = draw(_field_values(field))
        if field.is_repeated:
            getattr(message, field.name).extend([value])
        else:
            setattr(message, field.name, value)
    return commands.pack(message) if draw(st.booleans()) else message.SerializeToString()


def _field_values(field: object) -> st.SearchStrategy:
    kinds = {
        field.TYPE_STRING: st.text(max_size=40),
        field.TYPE_BYTES: st.binary(max_size=60),
        field.TYPE_BOOL: st.booleans(),
        field.TYPE_ENUM: st.sampled_from([v.number for v in field.enum_type.values])
        if field.enum_type
        else st.just(0),
    }
    return kinds.get(field.type, st.integers(min_value=0, max_value=2**31 - 1))


_PAYLOADS = st.one_of(st.binary(max_size=200), protobuf_commands())


def test_random_input_on_every_rpc_leaves_the_server_serving(server_uri: str) -> None:
    client = flight.connect(server_uri)
    options = flight.FlightCallOptions(timeout=10)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        rpc=st.sampled_from(["info", "schema", "get", "put", "action", "list"]),
        payload=_PAYLOADS,
        action=st.sampled_from([*sorted(a.type for a in client.list_actions()), "NoSuchAction"]),
    )
    def one_call(rpc: str, payload: bytes, action: str) -> None:
        descriptor = flight.FlightDescriptor.for_command(payload)
        with contextlib.suppress(pa.ArrowException):  # any clean error is fine; a crash is not
            match rpc:
                case "info":
                    client.get_flight_info(descriptor, options)
                case "schema":
                    client.get_schema(descriptor, options)
                case "get":
                    client.do_get(flight.Ticket(payload), options).read_all()
                case "put":
                    writer, _ = client.do_put(descriptor, pa.schema([("x", pa.int64())]), options)
                    writer.write_table(pa.table({"x": [1]}))
                    writer.close()
                case "action":
                    list(client.do_action(flight.Action(action, payload), options))
                case "list":
                    list(client.list_flights(payload, options))

    one_call()
    assert_still_serving(server_uri)


# -- memory ----------------------------------------------------------------------------------


def test_stopped_queries_free_their_memory() -> None:
    """A query stopped by its time limit, and a stream the client drops, give memory back.

    Measured by DuckDB's own accounting (the engine memory gauge): the process's RSS also
    holds what the allocator keeps for reuse, which varies run to run.
    """
    settings = Settings(
        limits=LimitsSettings(query_timeout_seconds=2),
        engine=EngineSettings(memory_limit="4GB"),
    )
    # A hash aggregate that grows without bound until stopped.
    hungry = "SELECT count(*) FROM (SELECT range AS k FROM range(2000000000) GROUP BY k)"
    with running_service(settings) as service:
        assert service.ops is not None
        ops_port = service.ops.port
        client = flight.connect(service.uri)
        peaks = [0, 0]

        def watch(index: int) -> None:
            while not done.is_set():
                peaks[index] = max(peaks[index], _engine_memory(ops_port))
                time.sleep(0.05)

        for index, call in enumerate([None, flight.FlightCallOptions(timeout=1)]):
            done = threading.Event()
            watcher = threading.Thread(target=watch, args=(index,))
            watcher.start()
            try:
                ticket = client.get_flight_info(statement(hungry)).endpoints[0].ticket
                # First the server's time limit stops it; then the client gives up first.
                with pytest.raises(flight.FlightTimedOutError):
                    client.do_get(ticket, call).read_all()
            finally:
                done.set()
                watcher.join()
            assert _settled_engine_memory(ops_port) < 32 * 2**20, "a stopped query kept memory"
        # The gauge saw each query's hash table grow, so the return to near zero means something.
        assert min(peaks) > 64 * 2**20, peaks
        assert_reads(service.uri)


def _engine_memory(ops_port: int) -> float:
    return scrape(ops_port)["fw_flight_sql_engine_memory_bytes"]


def _settled_engine_memory(ops_port: int) -> float:
    """DuckDB's held memory once stopped queries have unwound (they do so in the background)."""
    deadline = time.monotonic() + 20
    while (held := _engine_memory(ops_port)) >= 32 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.1)
    return held


def assert_reads(uri: str) -> None:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT 42")
        assert cur.fetchone()[0] == 42
