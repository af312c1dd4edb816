"""The query log names who ran each query, and calls are counted with the status sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.auth import AUTH_MIDDLEWARE, AuthMiddlewareFactory, hash_password
from flight_server.auth.setup import build_authenticator, signing_secret
from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    Settings,
    StaticTokenSettings,
    UserSettings,
)
from flight_server.configured_server import flight_sql_server
from flight_server.demo import GeneratedDataset
from flight_server.engine import ErrorKind, QueryError
from flight_server.flightsql.status import to_flight_error, wire_status
from flight_server.ops import CallMiddlewareFactory, Telemetry
from flight_server.ops.streams import sql_digest
from flight_server.runtime import Runtime
from tests.servers.flywheel_api import FlywheelAPI
from tests.service_support import running_service

HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value
ROBOT_TOKEN = "robot-token-for-the-audit-log"


@pytest.fixture(scope="module")
def flywheel() -> Iterator[FlywheelAPI]:
    with FlywheelAPI(users=[{"id": "ann@x.org", "api_key": "annkey"}]) as api:
        yield api


def settings_for(demo: GeneratedDataset, flywheel: FlywheelAPI) -> Settings:
    users = {
        name: UserSettings(password_hash=hash_password(f"{name}-pw", n=2**10), datasets=["*"])
        for name in ("alice", "bob")
    }
    auth = AuthSettings(
        token_secret="audit-secret",
        users=users,
        tokens=[StaticTokenSettings(token=ROBOT_TOKEN, user="robot", datasets=["*"])],
        flywheel_site=flywheel.url,
        anonymous=True,
    )
    return Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)], auth=auth)


@contextmanager
def serving(settings: Settings, order: str) -> Iterator[str]:
    """The service as it runs (its call middleware first), or with the auth middleware
    first: the query log must name the caller whichever order pyarrow starts them in."""
    if order == "ops first":
        with running_service(settings) as service:
            yield service.uri
        return
    telemetry = Telemetry()
    runtime = Runtime(settings, telemetry.watch)
    runtime.refresh()
    authenticator = build_authenticator(settings, signing_secret(settings))
    middleware = {
        AUTH_MIDDLEWARE: AuthMiddlewareFactory(authenticator),
        "ops": CallMiddlewareFactory(telemetry),
    }
    server = flight_sql_server(runtime, "grpc://127.0.0.1:0", middleware=middleware)
    try:
        yield f"grpc://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("order", ["ops first", "auth first"])
def test_each_query_line_names_its_own_caller(
    demo: GeneratedDataset,
    flywheel: FlywheelAPI,
    order: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    logins = {
        "alice": {"username": "alice", "password": "alice-pw"},
        "bob": {"username": "bob", "password": "bob-pw"},
        "robot": {HEADER: f"Bearer {ROBOT_TOKEN}"},
        "flywheel:ann@x.org": {"username": "flywheel", "password": flywheel.api_key("ann@x.org")},
        "anonymous": {},
    }
    expected = {}
    with (
        serving(settings_for(demo, flywheel), order) as uri,
        caplog.at_level(logging.INFO, logger="flight_server.queries"),
    ):
        connections = {
            user: flight_sql.connect(uri, db_kwargs=kwargs) for user, kwargs in logins.items()
        }
        try:
            # Interleaved, so a server thread that served one caller serves the next.
            for round_ in range(3):
                for position, (user, conn) in enumerate(connections.items()):
                    sql = f"SELECT {round_ * 10 + position} AS n"
                    with conn.cursor() as cursor:
                        cursor.execute(sql)
                        cursor.fetch_arrow_table()
                    expected[sql_digest(sql)] = user
        finally:
            for conn in connections.values():
                conn.close()

    lines = [r for r in caplog.records if r.name == "flight_server.queries"]
    logged = {line.sql_digest: line.user for line in lines}
    assert len(lines) == len(expected) == 15
    assert logged == expected


class _Raising(flight.FlightServerBase):
    """Raises, from DoAction, the exception its action type names."""

    def __init__(self, errors: dict[str, BaseException], telemetry: Telemetry) -> None:
        super().__init__("grpc://127.0.0.1:0", middleware={"ops": CallMiddlewareFactory(telemetry)})
        self._errors = errors

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> list:
        raise self._errors[action.type]


def test_calls_are_counted_with_the_status_the_client_receives() -> None:
    """What pyarrow really sends: MemoryError (our RESOURCES errors) arrives as UNKNOWN,
    since a pyarrow server cannot send RESOURCE_EXHAUSTED, and so it is counted."""
    errors: dict[str, BaseException] = {
        kind.value: to_flight_error(QueryError(kind, "boom")) for kind in ErrorKind
    }
    errors |= {
        "memory": MemoryError("boom"),
        "runtime": RuntimeError("boom"),
        "key": KeyError("boom"),
        "value": ValueError("boom"),
        "not-implemented": NotImplementedError("boom"),
        "unauthenticated": flight.FlightUnauthenticatedError("boom"),
        "arrow-invalid": pa.ArrowInvalid("boom"),
    }
    telemetry = Telemetry()
    server = _Raising(errors, telemetry)
    received = {}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            do_action = channel.unary_stream(
                "/arrow.flight.protocol.FlightService/DoAction",
                request_serializer=bytes,
                response_deserializer=bytes,
            )
            for name in errors:
                # An Action message: field 1, the type, as a length-delimited string.
                request = b"\x0a" + bytes([len(name)]) + name.encode()
                with pytest.raises(grpc.RpcError) as caught:
                    list(do_action(request))
                received[name] = caught.value.code().name
    finally:
        server.shutdown()

    assert received["resources"] == received["memory"] == "UNKNOWN"
    assert received == {name: wire_status(error) for name, error in errors.items()}
    counted = {
        sample.labels["status"]: sample.value
        for metric in telemetry.calls.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    statuses = list(received.values())
    assert counted == {status: statuses.count(status) for status in set(statuses)}
