"""The Flywheel API client over real HTTP against the fake site: connection reuse, and
retries of what may pass (bounded), never of what will not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flight_server.auth.flywheel import FlywheelKeys
from flight_server.flywheel.api_key import parse_api_key
from flight_server.flywheel.client import FlywheelClient, FlywheelError
from tests.servers.flywheel_api import FlywheelAPI
from tests.support import free_port

USER = "svc@x.org"


@pytest.fixture()
def api() -> Iterator[FlywheelAPI]:
    role = [{"_id": USER, "role_ids": ["ro"]}]
    with FlywheelAPI(
        users=[{"id": USER, "api_key": "svckey", "admin": True}],
        projects=[{"group": "neuro", "label": f"p{i}", "permissions": role} for i in range(5)],
    ) as api:
        yield api


def client(api: FlywheelAPI, retries: int = 2) -> FlywheelClient:
    return FlywheelClient(parse_api_key(api.api_key(USER)), timeout=30, retries=retries)


def test_calls_reuse_one_connection(api: FlywheelAPI) -> None:
    api.max_page = 1  # five pages
    fw = client(api)
    fw.auth_status()
    projects = fw.projects()
    fw.project(projects[0]["_id"])
    assert len(projects) == 5
    assert len(api.requests) == 7
    assert len({r.port for r in api.requests}) == 1, "one TCP connection for every call"


def test_a_busy_site_is_asked_again_on_the_same_connection(api: FlywheelAPI) -> None:
    api.fault("/api/auth/status", "busy", times=1)
    assert client(api).auth_status()["user_id"] == USER
    assert [r.status for r in api.requests] == [429, 200]
    assert len({r.port for r in api.requests}) == 1


def test_a_failing_site_is_retried_then_the_last_status_reported(api: FlywheelAPI) -> None:
    api.fault("/api/projects", "error", times=2)
    assert len(client(api, retries=2).projects()) == 5
    api.fault("/api/projects", "error")
    with pytest.raises(FlywheelError, match="HTTP 500") as failed:
        client(api, retries=2).projects()
    assert failed.value.status == 500
    assert [r.status for r in api.requests] == [500, 500, 200, 500, 500, 500]


def test_retries_are_bounded_and_off_when_zero(api: FlywheelAPI) -> None:
    api.fault("/api/auth/status", "busy")
    with pytest.raises(FlywheelError) as busy:
        client(api, retries=1).auth_status()
    assert busy.value.status == 429
    assert api.count("/api/auth/status") == 2
    api.reset_counts()
    api.fault("/api/auth/status", "error")
    with pytest.raises(FlywheelError):
        client(api, retries=0).auth_status()
    assert api.count("/api/auth/status") == 1


def test_a_dropped_connection_is_retried_on_a_new_one(api: FlywheelAPI) -> None:
    api.fault("/api/auth/status", "drop", times=1)
    assert client(api, retries=1).auth_status()["user_id"] == USER
    dropped, answered = api.requests
    assert (dropped.status, answered.status) == (0, 200)
    assert dropped.port != answered.port


def test_refusals_are_not_retried(api: FlywheelAPI) -> None:
    with pytest.raises(FlywheelError) as missing:
        client(api).project("650000000000000000000999")
    assert missing.value.status == 404
    bad_key = FlywheelClient(
        parse_api_key(f"{api.url.removeprefix('http://')}:__force_insecure:nokey")
    )
    with pytest.raises(FlywheelError) as rejected:
        bad_key.auth_status()
    assert rejected.value.status == 401
    api.fault("/api/projects", "malformed")
    with pytest.raises(FlywheelError, match="not JSON") as garbled:
        client(api).projects()
    assert garbled.value.status is None
    assert [r.status for r in api.requests] == [404, 401, 200], "each asked once"


def test_no_site_is_an_error_without_a_status() -> None:
    fw = FlywheelClient(parse_api_key(f"127.0.0.1:{free_port()}:__force_insecure:k"), retries=1)
    with pytest.raises(FlywheelError, match="auth/status") as failed:
        fw.auth_status()
    assert failed.value.status is None


def test_key_checks_of_different_callers_share_connections(api: FlywheelAPI) -> None:
    api.add_user("bo@x.org", "bokey")
    keys = FlywheelKeys(api.url)
    callers = [keys.caller_for(key) for key in ("svckey", "bokey")]
    assert [c.user for c in callers if c] == ["flywheel:svc@x.org", "flywheel:bo@x.org"]
    assert len(api.requests) == 4
    assert len({r.port for r in api.requests}) == 1, "one TCP connection for both callers"
