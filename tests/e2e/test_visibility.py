"""Per-caller visibility end to end: real ADBC and pyarrow clients, four kinds of identity.

One server serves two configured datasets (``local.proj1``, ``other.proj2``) and two
Flywheel projects on moto S3 (``neuro.proj1``, ``psych.proj2``) found through the fake
Flywheel API. Alice logs in with a password and sees ``local``; the robot's static token
sees ``other``; Flywheel users Ann and Bo log in with their API keys and see the project
they hold a role on. Nobody reaches anyone else's tables by any route.
"""

from __future__ import annotations

import base64
import itertools
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.auth import hash_password
from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    FlywheelSettings,
    Settings,
    StaticTokenSettings,
    UserSettings,
)
from flight_server.demo import write_dataset
from flight_server.flightsql import commands
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.storage import Location, open_location
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.s3 import S3Server
from tests.support import REPO, running_server, upload

HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value
BUCKET = "fw-visibility"
STORAGE_ID = "65a200000000000000000001"
ROBOT_TOKEN = "robot-static-token-0123456789"
_run = itertools.count()

#: Each identity's own table, and the catalogs it may see.
OWN = {
    "alice": ("local", "proj1"),
    "robot": ("other", "proj2"),
    "ann": ("neuro", "proj1"),
    "bo": ("psych", "proj2"),
}


@dataclass(frozen=True)
class Server:
    uri: str
    logins: dict[str, dict[str, str]]  # identity -> ADBC db_kwargs

    def headers(self, who: str) -> flight.FlightCallOptions:
        """pyarrow call options carrying ``who``'s credentials (a basic header works)."""
        login = self.logins[who]
        if HEADER in login:
            value = login[HEADER]
        else:
            pair = f"{login['username']}:{login['password']}".encode()
            value = "Basic " + base64.b64encode(pair).decode()
        return flight.FlightCallOptions(headers=[(b"authorization", value.encode())])


@pytest.fixture(scope="module")
def server(
    flywheel_api: FlywheelAPI, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("visibility")
    local = {
        name: write_dataset(str(base / name), subjects=3, versions=1, seed=seed)
        for name, seed in (("proj1", 11), ("proj2", 12))
    }
    run = f"vis{next(_run)}"
    s3_server.create_bucket(BUCKET)
    options = s3_server.location_options()
    fs = open_location(Location("s3", BUCKET, "", options))
    for name, dataset in local.items():
        upload(dataset.root, fs, f"{BUCKET}/{run}/{name}")
    creds = (
        f"s3://{BUCKET}?access_key_id={options['access_key_id']}"
        f"&secret_access_key={options['secret_access_key']}"
    )
    config = {"type": "s3", "bucket": BUCKET, "prefix": "", "endpoint_url": options["endpoint_url"]}

    def project(group: str, label: str, user: str) -> dict:
        info = {"dataset": {"type": "s3", "bucket": BUCKET, "prefix": f"{run}/{label}"}}
        info["dataset"]["storage_id"] = STORAGE_ID
        roles = [{"_id": user, "role_ids": ["ro"]}, {"_id": "svc@x.org", "role_ids": ["ro"]}]
        return {"group": group, "label": label, "info": info, "permissions": roles}

    flywheel_api.load(
        users=[
            {"id": "svc@x.org", "api_key": "svckey", "admin": True},
            {"id": "ann@x.org", "api_key": "annkey"},
            {"id": "bo@x.org", "api_key": "bokey"},
        ],
        storages=[{"_id": STORAGE_ID, "label": "main", "config": config, "url": creds}],
        projects=[project("neuro", "proj1", "ann@x.org"), project("psych", "proj2", "bo@x.org")],
    )
    settings = Settings(
        datasets=[
            DatasetSettings(name="proj1", location=local["proj1"].root),
            DatasetSettings(name="proj2", location=local["proj2"].root, catalog="other"),
        ],
        flywheel=FlywheelSettings(api_key=flywheel_api.api_key("svc@x.org"), exhaustive=True),
        auth=AuthSettings(
            users={
                "alice": UserSettings(
                    password_hash=hash_password("wonderland", n=2**10), datasets=["local/*"]
                )
            },
            tokens=[StaticTokenSettings(token=ROBOT_TOKEN, user="robot", datasets=["other"])],
        ),
    )
    logins = {
        "alice": {"username": "alice", "password": "wonderland"},
        "robot": {HEADER: f"Bearer {ROBOT_TOKEN}"},
        "ann": {"username": "fw", "password": flywheel_api.api_key("ann@x.org")},
        "bo": {HEADER: f"Bearer {flywheel_api.api_key('bo@x.org')}"},
    }
    with running_server(settings) as uri:
        yield Server(uri, logins)


def connect(server: Server, who: str) -> flight_sql.Connection:
    return flight_sql.connect(server.uri, db_kwargs=server.logins[who])


def adbc_error(server: Server, who: str, sql: str, prepared: bool = False) -> Exception:
    with (
        connect(server, who) as conn,
        conn.cursor() as cur,
        pytest.raises(adbc_driver_manager.Error) as caught,
    ):
        if prepared:
            cur.adbc_prepare(sql)
        cur.execute(sql)
        cur.fetch_arrow_table()
    return caught.value


def test_anonymous_callers_are_refused(server: Server) -> None:
    with (
        pytest.raises(adbc_driver_manager.Error) as caught,
        flight_sql.connect(server.uri) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT 1")
    assert caught.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("who", sorted(OWN))
def test_each_caller_sees_only_their_catalogs_and_tables(server: Server, who: str) -> None:
    catalog, schema = OWN[who]
    with connect(server, who) as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {catalog}.{schema}.sessions")
            assert cur.fetchone()[0] > 0
    assert [row["catalog_name"] for row in objects] == [catalog]
    schemas = {s["db_schema_name"] for s in objects[0]["catalog_db_schemas"]}
    assert schemas and all(name.partition("@")[0] == schema for name in schemas)
    client = flight.connect(server.uri)
    paths = {
        tuple(p.decode() for p in info.descriptor.path)
        for info in client.list_flights(options=server.headers(who))
    }
    assert paths and {path[0] for path in paths} == {catalog}


SPELLINGS = [
    "SELECT * FROM {c}.{s}.sessions",
    'SELECT * FROM "{C}"."{S}"."SESSIONS"',
    "SELECT * FROM {s}.sessions",
    "WITH x AS (SELECT * FROM {c}.{s}.sessions) SELECT * FROM x",
    "SELECT (SELECT count(*) FROM {c}.{s}.subjects) AS n",
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM {c}.{s}.sessions)",
    "SELECT * FROM range(1) r, LATERAL (SELECT * FROM {c}.{s}.sessions) t",
    "SELECT 1 UNION ALL SELECT count(*) FROM {c}.{s}.sessions",
    'SELECT * FROM {c}."{s}@v1".sessions',
]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("who,victim", [("alice", "robot"), ("ann", "bo"), ("bo", "alice")])
def test_other_callers_tables_are_unreachable(
    server: Server, who: str, victim: str, spelling: str
) -> None:
    catalog, schema = OWN[victim]
    sql = spelling.format(c=catalog, s=schema, C=catalog.upper(), S=schema.upper())
    for prepared in (False, True):
        error = adbc_error(server, who, sql, prepared)
        # NOT_FOUND, exactly as for a table that does not exist.
        assert error.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND, sql
        assert catalog not in str(error).replace(sql, "") or "does not exist" in str(error)


@pytest.mark.parametrize("prepared", [False, True])
def test_a_statement_its_owner_just_ran_stays_unreachable_for_others(
    server: Server, prepared: bool
) -> None:
    # The server reuses what it learnt from parsing and planning a statement; none of it
    # may carry one caller's access over to another caller sending the same text.
    catalog, schema = OWN["alice"]
    sql = f"SELECT count(*) AS n FROM {catalog}.{schema}.sessions"
    with connect(server, "alice") as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert cur.fetch_arrow_table()["n"][0].as_py() > 0
    error = adbc_error(server, "bo", sql, prepared)
    assert error.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND


def _statement_ticket(server: Server, who: str, sql: str) -> bytes:
    client = flight.connect(server.uri)
    descriptor = flight.FlightDescriptor.for_command(
        commands.pack(pb.CommandStatementQuery(query=sql))
    )
    info = client.get_flight_info(descriptor, server.headers(who))
    return info.endpoints[0].ticket.ticket


def test_tickets_and_handles_work_only_for_their_caller(server: Server) -> None:
    client = flight.connect(server.uri)
    ticket = _statement_ticket(server, "alice", "SELECT count(*) FROM local.proj1.sessions")
    assert client.do_get(flight.Ticket(ticket), server.headers("alice")).read_all().num_rows == 1
    with pytest.raises(pa.ArrowInvalid, match="another caller"):
        client.do_get(flight.Ticket(ticket), server.headers("robot")).read_all()
    altered = ticket[:-5] + bytes([ticket[-5] ^ 1]) + ticket[-4:]
    with pytest.raises(pa.ArrowInvalid, match="invalid ticket"):
        client.do_get(flight.Ticket(altered), server.headers("alice")).read_all()

    request = pb.ActionCreatePreparedStatementRequest(query="SELECT * FROM local.proj1.sessions")
    [result] = client.do_action(
        flight.Action("CreatePreparedStatement", commands.pack(request)), server.headers("alice")
    )
    created = commands.decode(pb.ActionCreatePreparedStatementResult, result.body.to_pybytes())
    handle = pb.CommandPreparedStatementQuery(
        prepared_statement_handle=created.prepared_statement_handle
    )
    descriptor = flight.FlightDescriptor.for_command(commands.pack(handle))
    assert client.get_flight_info(descriptor, server.headers("alice")).endpoints
    with pytest.raises(pa.ArrowInvalid, match="another caller"):
        client.get_flight_info(descriptor, server.headers("ann"))


def test_plain_flight_paths_and_endpoints_are_per_caller(server: Server) -> None:
    client = flight.connect(server.uri)
    descriptor = flight.FlightDescriptor.for_path("other", "proj2", "sessions")
    info = client.get_flight_info(descriptor, server.headers("robot"))
    assert info.endpoints
    for call in (client.get_flight_info, client.get_schema):
        with pytest.raises(pa.ArrowKeyError, match="does not exist"):  # NOT_FOUND
            call(descriptor, server.headers("alice"))
    with pytest.raises(pa.ArrowInvalid, match="another caller"):
        client.do_get(info.endpoints[0].ticket, server.headers("alice")).read_all()


def _session_call(server: Server, who: str, cookie: str, action: str, body: bytes = b"") -> bytes:
    options = server.headers(who)
    headers = [*options.headers, (b"cookie", f"arrow_flight_session_id={cookie}".encode())]
    client = flight.connect(server.uri)
    results = list(
        client.do_action(flight.Action(action, body), flight.FlightCallOptions(headers=headers))
    )
    return results[0].body.to_pybytes() if results else b""


def _set_options(catalog: str, schema: str) -> bytes:
    request = spb.SetSessionOptionsRequest()
    request.session_options["catalog"].string_value = catalog
    request.session_options["schema"].string_value = schema
    return request.SerializeToString()


def test_sessions_are_bound_to_their_caller(server: Server) -> None:
    cookie = "shared-cookie-value"
    reply = spb.SetSessionOptionsResult.FromString(
        _session_call(server, "alice", cookie, "SetSessionOptions", _set_options("local", "proj1"))
    )
    assert not reply.errors
    mine = spb.GetSessionOptionsResult.FromString(
        _session_call(server, "alice", cookie, "GetSessionOptions")
    )
    assert mine.session_options["catalog"].string_value == "local"
    # The same cookie from another caller names another (empty) session.
    theirs = spb.GetSessionOptionsResult.FromString(
        _session_call(server, "robot", cookie, "GetSessionOptions")
    )
    assert not theirs.session_options
    # A hidden catalog is as unknown as a missing one.
    refused = spb.SetSessionOptionsResult.FromString(
        _session_call(server, "robot", cookie, "SetSessionOptions", _set_options("local", "proj1"))
    )
    assert set(refused.errors) == {"catalog", "schema"}


def test_a_schema_set_alone_is_checked_in_the_default_catalog(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Hidden and missing schemas get the same answer, so SetSessionOptions is no oracle."""
    base = tmp_path_factory.mktemp("defaults")
    datasets = [
        DatasetSettings(name=name, location=write_dataset(str(base / name), subjects=2).root)
        for name in ("proj1", "proj2")
    ]
    settings = Settings(
        datasets=datasets,
        default_catalog="local",
        auth=AuthSettings(
            tokens=[StaticTokenSettings(token=ROBOT_TOKEN, user="robot", datasets=["local/proj1"])]
        ),
    )
    with running_server(settings) as uri:
        server = Server(uri, {"robot": {HEADER: f"Bearer {ROBOT_TOKEN}"}})
        errors = {}
        for schema in ("proj1", "proj2", "proj9"):
            request = spb.SetSessionOptionsRequest()
            request.session_options["schema"].string_value = schema
            body = request.SerializeToString()
            reply = _session_call(server, "robot", f"cookie-{schema}", "SetSessionOptions", body)
            errors[schema] = set(spb.SetSessionOptionsResult.FromString(reply).errors)
    assert errors == {"proj1": set(), "proj2": {"schema"}, "proj9": {"schema"}}


def test_a_public_address_without_authentication_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flight_server", "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "FW_FLIGHT_SQL_OPS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve 0.0.0.0 without authentication" in lines[0]
