"""Bad input gets a clear error with the right status, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Callable

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.config import AuthSettings, Settings
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.signing import SignedTokens
from tests.support import running_server


def run(conn: flight_sql.Connection, query: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        (
            "SELEC * FROM local.proj1.sessions",
            adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT,
            "syntax error",
        ),
        ("SELECT * FROM local.proj1.nope", adbc_driver_manager.AdbcStatusCode.NOT_FOUND, "nope"),
        (
            "SELECT * FROM local.proj1.sesions",
            adbc_driver_manager.AdbcStatusCode.NOT_FOUND,
            "did you mean local.proj1.sessions?",
        ),
        (
            "SELECT nope FROM local.proj1.sessions",
            adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT,
            "nope",
        ),
        (
            "SELECT 1; SELECT 2",
            adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT,
            "one SQL statement",
        ),
        ("CREATE TABLE x (a INT)", adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED, "read-only"),
    ],
)
def test_bad_sql_gets_the_right_status(
    conn: flight_sql.Connection, query: str, status: adbc_driver_manager.AdbcStatusCode, words: str
) -> None:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        run(conn, query)
    assert caught.value.status_code == status
    # Said once: pyarrow's detail part after the message names only the status.
    assert str(caught.value).count(words) == 1
    assert "Traceback" not in str(caught.value) and ".py" not in str(caught.value)
    # pyarrow's detail part names the exception class: never a library's internal one.
    assert "pyarrow" not in str(caught.value) and "Arrow" not in str(caught.value)
    assert run(conn, "SELECT 42 AS answer").to_pylist() == [{"answer": 42}]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda client: list(client.do_action(flight.Action("nope", b""))),
            pa.ArrowNotImplementedError,
            "unsupported action 'nope'",
        ),
        (
            lambda client: client.get_flight_info(flight.FlightDescriptor.for_path("a", "b", "c")),
            pa.ArrowKeyError,
            "table a.b.c does not exist",
        ),
        (
            lambda client: client.do_get(flight.Ticket(b"garbage")).read_all(),
            pa.ArrowInvalid,
            "invalid ticket",
        ),
    ],
)
def test_errors_say_their_message_once(
    server_uri: str, call: Callable[[flight.FlightClient], object], error: type, message: str
) -> None:
    """The message, then pyarrow's detail part with only the status in words."""
    with pytest.raises(error) as caught:
        call(flight.connect(server_uri))
    # pyarrow's DoGet client repeats what it received as "client debug context".
    said = str(caught.value).split(". gRPC client debug context")[0]
    assert said.count(message) == 1, said
    assert "Python exception: Arrow" not in said and "pyarrow.lib" not in said


def test_garbage_ticket_is_invalid_argument(server_uri: str) -> None:
    client = flight.connect(server_uri)
    for ticket in (b"", b"garbage", b"fwt1.abc.def", b"fwt1." + b"\xff" * 40):
        with pytest.raises(pa.ArrowInvalid, match="invalid ticket"):
            client.do_get(flight.Ticket(ticket)).read_all()


def test_altered_ticket_is_refused(server_uri: str) -> None:
    client = flight.connect(server_uri)
    command = pb.CommandStatementQuery(query="SELECT 1 AS one")
    info = client.get_flight_info(flight.FlightDescriptor.for_command(commands.pack(command)))
    ticket = info.endpoints[0].ticket.ticket
    assert client.do_get(flight.Ticket(ticket)).read_all().num_rows == 1
    altered = bytearray(ticket)
    altered[10] ^= 0x01
    with pytest.raises(pa.ArrowInvalid, match="invalid ticket"):
        client.do_get(flight.Ticket(bytes(altered))).read_all()


def test_tickets_of_the_previous_format_are_refused() -> None:
    """Tickets changed format: one the previous release signed, with the same secret, is
    refused rather than misread."""
    secret = "shared-between-releases"
    previous = SignedTokens(secret.encode(), magic=b"fwt1.", domain=b"ticket")
    body = {"q": "SELECT 1 AS one", "c": None, "s": None}
    ticket = previous.seal({"k": "statement", "b": body, "u": "anonymous"}, 600)
    settings = Settings(auth=AuthSettings(anonymous=True, token_secret=secret))
    with running_server(settings) as uri:
        client = flight.connect(uri)
        with pytest.raises(pa.ArrowInvalid, match="invalid ticket: ticket not issued by this"):
            client.do_get(flight.Ticket(ticket)).read_all()
        command = commands.pack(pb.CommandStatementQuery(query="SELECT 1 AS one"))
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
        assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 1


def test_a_prepared_handle_is_not_a_ticket(server_uri: str) -> None:
    client = flight.connect(server_uri)
    request = pb.ActionCreatePreparedStatementRequest(query="SELECT 1 AS one")
    [result] = client.do_action(flight.Action("CreatePreparedStatement", commands.pack(request)))
    created = commands.unpack(result.body.to_pybytes())
    with pytest.raises(pa.ArrowInvalid, match="a prepared token is not a ticket"):
        client.do_get(flight.Ticket(created.prepared_statement_handle)).read_all()


def test_unknown_and_malformed_commands(server_uri: str) -> None:
    client = flight.connect(server_uri)
    with pytest.raises(pa.ArrowInvalid, match="malformed"):
        client.get_flight_info(flight.FlightDescriptor.for_command(b"\x0a\xff\xff"))
    with pytest.raises(pa.ArrowNotImplementedError, match="unsupported command type"):
        client.get_flight_info(flight.FlightDescriptor.for_command(b"\x0a\x05hello"))
    with pytest.raises(pa.ArrowNotImplementedError, match="unsupported action"):
        list(client.do_action(flight.Action("DropEverything", b"")))
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(commands.pack(pb.CommandGetCatalogs()))
    )
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 1
