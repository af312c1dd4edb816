"""Session options: default catalog and schema per client, over the session cookie."""

from __future__ import annotations

import time
from collections.abc import Iterator

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.demo import GeneratedDataset
from flight_server.flightsql import commands
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.sessions import SESSION_COOKIE, SessionStore

COOKIES = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value: "true"}
OPTION = adbc_driver_flightsql.ConnectionOptions.OPTION_SESSION_OPTION_PREFIX.value


@pytest.fixture
def session_conn(server_uri: str) -> Iterator[flight_sql.Connection]:
    with flight_sql.connect(server_uri, db_kwargs=COOKIES) as connection:
        yield connection


def count(conn: flight_sql.Connection, table: str, params: object = None) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) AS n FROM {table}", params)
        return cur.fetch_arrow_table()["n"][0].as_py()


def test_adbc_current_catalog_and_schema(
    session_conn: flight_sql.Connection, demo: GeneratedDataset, legacy: dict
) -> None:
    session_conn.adbc_current_catalog = "local"
    session_conn.adbc_current_db_schema = "proj1"
    assert (session_conn.adbc_current_catalog, session_conn.adbc_current_db_schema) == (
        "local",
        "proj1",
    )
    rows = demo.row_counts()[demo.latest.label]["subjects"]
    assert count(session_conn, "subjects") == rows
    with session_conn.cursor() as cur:  # prepared statements with parameters see it too
        cur.execute("SELECT count(*) AS n FROM subjects WHERE ? = 1", (1,))
        assert cur.fetch_arrow_table()["n"][0].as_py() == rows
    session_conn.adbc_connection.set_options(**{OPTION + "schema": "legacy_a"})
    assert count(session_conn, "subjects") == legacy["legacy_a"].row_counts()["v2"]["subjects"]


# Each alone in its statement: one of them would set the defaults for all.
DEFAULTS_READING = {
    "current_database()": ("local", "local"),
    "current_catalog()": ("local", "local"),
    "current_catalog": ("local", "local"),
    "current_schema()": ("proj1", "legacy_a"),
    "current_schema": ("proj1", "legacy_a"),
    "current_schemas(false)": (["proj1"], ["legacy_a"]),
    "in_search_path('local', 'proj1')": (True, False),
}


def test_functions_that_name_the_defaults_answer_with_the_sessions(
    session_conn: flight_sql.Connection,
) -> None:
    # BI tools ask the server where they are; found by an attack run answering "main", and
    # by a review comparing every built-in function's answer before and after USE.
    def answers() -> dict[str, object]:
        with session_conn.cursor() as cur:
            found = {}
            for expression in DEFAULTS_READING:
                cur.execute(f"SELECT {expression} AS v")
                found[expression] = cur.fetch_arrow_table()["v"][0].as_py()
            return found

    session_conn.adbc_current_catalog = "local"
    session_conn.adbc_current_db_schema = "proj1"
    assert answers() == {
        expression: in_proj1 for expression, (in_proj1, _) in DEFAULTS_READING.items()
    }
    session_conn.adbc_current_db_schema = "legacy_a"
    assert answers() == {expression: in_a for expression, (_, in_a) in DEFAULTS_READING.items()}


def test_sessions_are_per_client(server_uri: str, session_conn: flight_sql.Connection) -> None:
    session_conn.adbc_current_catalog = "local"
    session_conn.adbc_current_db_schema = "proj1"
    with flight_sql.connect(server_uri, db_kwargs=COOKIES) as other:
        with pytest.raises(adbc_driver_manager.Error) as caught:
            count(other, "subjects")
        assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND
    assert count(session_conn, "subjects") > 0


def test_unknown_option_and_bad_value_are_refused(session_conn: flight_sql.Connection) -> None:
    with pytest.raises(adbc_driver_manager.Error, match="nonsense"):
        session_conn.adbc_connection.set_options(**{OPTION + "nonsense": "x"})
    with pytest.raises(adbc_driver_manager.Error):
        session_conn.adbc_current_catalog = "no_such_catalog"
    session_conn.adbc_current_catalog = "local"
    session_conn.adbc_current_db_schema = "proj1"
    assert count(session_conn, "subjects") > 0


# -- raw Flight, to see the exact replies ---------------------------------------------------


class _CookieJar(flight.ClientMiddlewareFactory):
    """Echo the session cookie, as cookie-aware Flight clients do."""

    def __init__(self) -> None:
        self.cookie: str | None = None

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        return _Cookie(self)


class _Cookie(flight.ClientMiddleware):
    def __init__(self, jar: _CookieJar) -> None:
        self._jar = jar

    def sending_headers(self) -> dict[str, str]:
        return {"cookie": self._jar.cookie} if self._jar.cookie else {}

    def received_headers(self, headers: dict[str, list[str]]) -> None:
        for value in headers.get("set-cookie", []):
            if value.startswith(SESSION_COOKIE + "=") and self._jar.cookie is None:
                self._jar.cookie = value.split(";")[0]


def action(client: flight.FlightClient, name: str, message: object) -> bytes:
    (result,) = client.do_action(flight.Action(name, message.SerializeToString()))
    return result.body.to_pybytes()


def set_options(client: flight.FlightClient, **values: str | bool) -> spb.SetSessionOptionsResult:
    request = spb.SetSessionOptionsRequest()
    for name, value in values.items():
        if isinstance(value, bool):
            request.session_options[name].bool_value = value
        else:
            request.session_options[name].string_value = value
    result = spb.SetSessionOptionsResult()
    result.ParseFromString(action(client, "SetSessionOptions", request))
    return result


def test_raw_session_replies(server_uri: str) -> None:
    client = flight.connect(server_uri, middleware=[_CookieJar()])
    result = set_options(client, catalog="local", schema="legacy_b", color="red", verbose=True)
    errors = {name: error.value for name, error in result.errors.items()}
    assert errors == {"color": spb.SetSessionOptionsResult.INVALID_NAME, "verbose": 1}
    got = spb.GetSessionOptionsResult()
    got.ParseFromString(action(client, "GetSessionOptions", spb.GetSessionOptionsRequest()))
    assert {k: v.string_value for k, v in got.session_options.items()} == {
        "catalog": "local",
        "schema": "legacy_b",
    }
    bad = set_options(client, schema="nope")
    assert bad.errors["schema"].value == spb.SetSessionOptionsResult.INVALID_VALUE
    query = commands.pack(pb.CommandStatementQuery(query="SELECT count(*) AS n FROM subjects"))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(query))
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 1
    closed = spb.CloseSessionResult()
    closed.ParseFromString(action(client, "CloseSession", spb.CloseSessionRequest()))
    assert closed.status == spb.CloseSessionResult.CLOSED
    with pytest.raises(pa.ArrowKeyError):
        client.get_flight_info(flight.FlightDescriptor.for_command(query))


def test_idle_sessions_are_forgotten_and_the_store_is_bounded() -> None:
    store = SessionStore(max_sessions=2, idle_seconds=0.5)
    store.update("a", {"catalog": "local"})
    for _ in range(3):  # each read renews the session: 0.9 s old, never 0.5 s idle
        time.sleep(0.3)
        assert store.options("a") == {"catalog": "local"}
    time.sleep(0.6)
    assert store.options("a") is None
    store.update("a", {})
    store.update("b", {})
    assert store.options("a") == {}  # now "b" is the least recently used
    store.update("c", {})
    assert store.options("b") is None
    assert store.options("a") == {} and store.options("c") == {}
    assert store.close("a") and not store.close("a")
