"""Clients that always send a bearer token still reach an anonymous server.

flightsql-dbapi's ``FlightSQLClient`` sends ``authorization: Bearer None`` when it is given
no token. With anonymous access on, a bearer that is none of ours is an anonymous call;
our own tokens, expired or altered, are still refused, and without anonymous access
nothing changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import adbc_driver_flightsql
import adbc_driver_manager
import pytest
from flightsql import FlightSQLClient
from flightsql import connect as dbapi_connect

from flight_server.auth import BearerTokens, Caller, FlywheelKeys, Grant
from flight_server.demo import GeneratedDataset
from tests.e2e.test_auth import SECRET, answer, authenticator, serving
from tests.servers.flywheel_api import FlywheelAPI
from tests.support import server_process

HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value


def test_flightsql_dbapi_without_a_token_reads_the_readme_start(demo: GeneratedDataset) -> None:
    with server_process("--dataset", f"proj1={demo.root}") as (uri, _process):
        address = urlsplit(uri)
        client = FlightSQLClient(host=address.hostname, port=address.port, insecure=True)
        connection = dbapi_connect(client)
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT count(*) FROM local.proj1.subjects")
            assert cursor.fetchone()[0] > 0
        finally:
            connection.close()


@pytest.fixture(scope="module")
def anonymous_uri(demo: GeneratedDataset) -> Iterator[str]:
    with serving(authenticator(anonymous=True), demo) as uri:
        yield uri


@pytest.mark.parametrize("value", ["Bearer None", "Bearer ", "Bearer some-placeholder"])
def test_foreign_bearers_call_anonymously(anonymous_uri: str, value: str) -> None:
    assert answer(anonymous_uri, **{HEADER: value}) == 42


def our_token(ttl: float = 600) -> str:
    return BearerTokens(SECRET, ttl).issue("alice")


def refused(uri: str, value: str) -> None:
    with pytest.raises(adbc_driver_manager.Error) as caught:
        answer(uri, **{HEADER: value})
    assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHENTICATED


def test_our_own_tokens_never_fall_back_to_anonymous(anonymous_uri: str) -> None:
    token = our_token()
    assert answer(anonymous_uri, **{HEADER: f"Bearer {token}"}) == 42
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    refused(anonymous_uri, f"Bearer {altered}")
    expired = BearerTokens(SECRET, 1).issue("alice")
    time.sleep(1.1)
    refused(anonymous_uri, f"Bearer {expired}")


def test_without_anonymous_access_foreign_bearers_are_refused(demo: GeneratedDataset) -> None:
    with serving(authenticator(anonymous=False), demo) as uri:
        refused(uri, "Bearer None")


def test_a_rejected_flywheel_key_calls_anonymously_and_is_asked_once(
    demo: GeneratedDataset,
) -> None:
    with FlywheelAPI(users=[{"id": "ann@x.org", "api_key": "annkey"}], projects=[]) as api:
        auth = authenticator(flywheel=api, anonymous=True)
        with serving(auth, demo) as uri:
            for _ in range(3):
                assert answer(uri, **{HEADER: "Bearer None"}) == 42
        assert api.count("/api/auth/status") == 1


def test_rejected_keys_are_remembered_as_long_as_accepted_ones() -> None:
    with FlywheelAPI(users=[{"id": "ann@x.org", "api_key": "annkey"}], projects=[]) as api:
        keys = FlywheelKeys(api.url, ttl_seconds=600)
        assert keys.caller_for("not-a-key") is None
        assert keys.caller_for("not-a-key") is None
        assert api.count("/api/auth/status") == 1
        accepted = keys.caller_for(api.api_key("ann@x.org"))
        assert accepted == Caller("flywheel:ann@x.org", Grant.of_projects([]))
