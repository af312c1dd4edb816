"""Authentication middleware against a real server, real ADBC clients and a fake Flywheel site."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow.flight as flight
import pytest

from flight_server.auth import (
    AUTH_MIDDLEWARE,
    Authenticator,
    AuthMiddlewareFactory,
    BearerTokens,
    Caller,
    Credentials,
    ExposureError,
    FlywheelKeys,
    Grant,
    HandshakeAccepter,
    check_exposure,
    hash_password,
    verify_password,
)
from flight_server.config import DatasetSettings, Settings
from flight_server.configured_server import flight_sql_server
from flight_server.demo import GeneratedDataset
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.runtime import Runtime
from tests.servers.flywheel_api import FlywheelAPI

SECRET = b"test-secret"
HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value
# Cheap scrypt parameters keep the tests fast; the defaults are for real deployments.
ALICE_HASH = hash_password("wonderland", n=2**10)
STATIC_TOKEN = "static-token-for-robot"


@pytest.fixture(scope="module")
def flywheel() -> Iterator[FlywheelAPI]:
    with FlywheelAPI(
        users=[{"id": "ann@x.org", "api_key": "annkey"}, {"id": "bo@x.org", "api_key": "bokey"}],
        projects=[
            {
                "group": "local",
                "label": "proj1",
                "permissions": [{"_id": "ann@x.org", "role_ids": ["ro"]}],
            },
            {"group": "neuro", "label": "secret", "permissions": []},
        ],
    ) as api:
        yield api


def authenticator(flywheel: FlywheelAPI | None = None, anonymous: bool = False) -> Authenticator:
    return Authenticator(
        BearerTokens(SECRET, 600),
        users={"alice": Credentials(ALICE_HASH, Grant.parse(["local/proj1"]))},
        static_tokens={STATIC_TOKEN: Caller("robot", Grant.everything())},
        flywheel=FlywheelKeys(flywheel.url, ttl_seconds=600) if flywheel else None,
        anonymous=Caller("anonymous", Grant.everything()) if anonymous else None,
    )


@contextmanager
def serving(auth: Authenticator, demo: GeneratedDataset) -> Iterator[str]:
    runtime = Runtime(Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)]))
    runtime.refresh()
    server = flight_sql_server(
        runtime,
        "grpc://127.0.0.1:0",
        middleware={AUTH_MIDDLEWARE: AuthMiddlewareFactory(auth)},
        auth_handler=HandshakeAccepter(),
    )
    try:
        yield f"grpc://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def uri(flywheel: FlywheelAPI, demo: GeneratedDataset) -> Iterator[str]:
    with serving(authenticator(flywheel), demo) as uri:
        yield uri


def answer(uri: str, **db_kwargs: str) -> int:
    with flight_sql.connect(uri, db_kwargs=db_kwargs) as conn, conn.cursor() as cur:
        cur.execute("SELECT 42 AS answer")
        return cur.fetch_arrow_table().column(0)[0].as_py()


def unauthenticated(uri: str, **db_kwargs: str) -> adbc_driver_manager.Error:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        answer(uri, **db_kwargs)
    assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHENTICATED
    return caught.value


def test_basic_login_is_exchanged_for_a_bearer_token(uri: str) -> None:
    assert answer(uri, username="alice", password="wonderland") == 42


def test_pyarrow_handshake_returns_a_bearer_header(uri: str) -> None:
    client = flight.connect(uri)
    name, value = client.authenticate_basic_token("alice", "wonderland")
    assert name == b"authorization" and value.startswith(b"Bearer fwb1.")
    options = flight.FlightCallOptions(headers=[(name, value)])
    assert list(client.list_actions(options))
    assert answer(uri, **{HEADER: value.decode()}) == 42


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"username": "alice", "password": "wrong"},
        {"username": "mallory", "password": "wonderland"},
        {HEADER: "Bearer nonsense"},
        {HEADER: "Bearer fwb1.e30.AAAA"},
        {HEADER: "Digest whatever"},
        {HEADER: "Basic !!!not-base64!!!"},
    ],
)
def test_bad_credentials_are_unauthenticated(uri: str, credentials: dict[str, str]) -> None:
    unauthenticated(uri, **credentials)


def test_expired_and_altered_tokens_are_refused(uri: str) -> None:
    expired = BearerTokens(SECRET, -1).issue("alice")
    unauthenticated(uri, **{HEADER: f"Bearer {expired}"})
    valid = BearerTokens(SECRET, 600).issue("alice")
    assert answer(uri, **{HEADER: f"Bearer {valid}"}) == 42
    altered = valid[:-3] + ("A" if valid[-3] != "A" else "B") + valid[-2:]
    unauthenticated(uri, **{HEADER: f"Bearer {altered}"})
    other_secret = BearerTokens(b"another server", 600).issue("alice")
    unauthenticated(uri, **{HEADER: f"Bearer {other_secret}"})


def test_static_tokens(uri: str) -> None:
    assert answer(uri, **{HEADER: f"Bearer {STATIC_TOKEN}"}) == 42
    unauthenticated(uri, **{HEADER: f"Bearer {STATIC_TOKEN}x"})


def test_flywheel_keys_as_password_or_bearer(uri: str, flywheel: FlywheelAPI) -> None:
    key = flywheel.api_key("ann@x.org")
    assert answer(uri, username="flywheel", password=key) == 42
    assert answer(uri, **{HEADER: f"Bearer {key}"}) == 42
    unauthenticated(uri, username="flywheel", password=key.replace("annkey", "nokey"))


def test_flywheel_keys_for_another_site_are_never_sent_there(uri: str) -> None:
    unauthenticated(uri, username="flywheel", password="evil.example:__force_insecure:annkey")


def test_flywheel_answers_are_cached(demo: GeneratedDataset, flywheel: FlywheelAPI) -> None:
    flywheel.reset_counts()
    with serving(authenticator(flywheel), demo) as uri:
        key = flywheel.api_key("bo@x.org")
        for _ in range(3):
            assert answer(uri, **{HEADER: f"Bearer {key}"}) == 42
    assert flywheel.count("/api/auth/status") == 1


def test_flywheel_answers_expire_so_changed_roles_show() -> None:
    with FlywheelAPI(
        users=[{"id": "cy@x.org", "api_key": "cykey"}],
        projects=[{"_id": "p1", "group": "local", "label": "proj1", "permissions": []}],
    ) as api:
        keys = FlywheelKeys(api.url, ttl_seconds=0.5)
        key = api.api_key("cy@x.org")
        before = keys.caller_for(key)
        assert before is not None and not before.may_see("local", "proj1", "p1")
        api.update_project("p1", permissions=[{"_id": "cy@x.org", "role_ids": ["ro"]}])
        still = keys.caller_for(key)  # within the time limit: the cached answer
        assert still is not None and not still.may_see("local", "proj1", "p1")
        assert api.count("/api/auth/status") == 1
        time.sleep(0.6)
        after = keys.caller_for(key)
        assert after is not None and after.may_see("local", "proj1", "p1")
        assert api.count("/api/auth/status") == 2


def test_anonymous_only_when_configured(demo: GeneratedDataset) -> None:
    with serving(authenticator(anonymous=True), demo) as uri:
        assert answer(uri) == 42
        unauthenticated(uri, username="alice", password="wrong")


def test_flywheel_roles_grant_projects_not_names(demo: GeneratedDataset) -> None:
    """A role grants the project itself: not another project with the same group and label,
    nor a configured dataset that happens to be served under that name."""
    with FlywheelAPI(
        users=[{"id": "ann@x.org", "api_key": "annkey"}],
        projects=[
            {
                "_id": "p-ann",
                "group": "local",
                "label": "proj1",
                "permissions": [{"_id": "ann@x.org", "role_ids": ["ro"]}],
            }
        ],
    ) as api:
        ann = FlywheelKeys(api.url).caller_for(api.api_key("ann@x.org"))
    assert ann is not None
    assert ann.may_see("local", "proj1", "p-ann")
    assert not ann.may_see("local", "proj1", "p-other")  # same label, another project
    assert not ann.may_see("local", "proj1")  # a configured dataset of that name
    runtime = Runtime(Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)]))
    runtime.refresh()
    sql = "SELECT count(*) FROM local.proj1.sessions"
    runtime.engine.plan(sql, QueryContext(may_read=Caller("root", Grant.everything()).may_see))
    with pytest.raises(QueryError) as caught:
        runtime.engine.plan(sql, QueryContext(may_read=ann.may_see))
    assert caught.value.kind == ErrorKind.NOT_FOUND


def test_passwords_are_salted_hashes() -> None:
    first, second = hash_password("pw", n=2**10), hash_password("pw", n=2**10)
    assert first != second and "pw" not in first.split("$")[4:]
    assert verify_password("pw", first) and not verify_password("pw2", first)
    assert not verify_password("pw", "plain-text") and not verify_password("pw", "")


def test_basic_credentials_accept_unpadded_base64() -> None:
    auth = authenticator()
    encoded = base64.b64encode(b"alice:wonderland").decode().rstrip("=")
    caller, reply = auth.authenticate(f"Basic {encoded}")
    assert caller.user == "alice" and reply is not None and reply.startswith("Bearer ")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "flight.example.org"])
def test_anonymous_on_a_public_address_refuses_to_start(host: str) -> None:
    with pytest.raises(ExposureError):
        check_exposure(host, anonymous=True)
    check_exposure(host, anonymous=False)
    check_exposure(host, anonymous=True, allow_public_anonymous=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_anonymous_on_loopback_is_fine(host: str) -> None:
    check_exposure(host, anonymous=True)
