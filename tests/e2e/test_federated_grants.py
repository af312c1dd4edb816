"""Federated datasets for Flywheel users: whoever may read every centre may read the union.

A Flywheel-keys-only deployment (the fake Flywheel API over real HTTP, centres on moto S3):
a user with roles on both centre projects reads and lists ``federated.both``; a user with a
role on one centre gets the same NOT_FOUND as for a federated dataset that does not exist,
and no listing shows it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pytest

from flight_server.config import FlywheelSettings, Settings
from flight_server.storage import Location, open_location
from tests.centres import SESSIONS, rows, write_centre
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.s3 import S3Server
from tests.support import running_server

BUCKET = "fw-federated-grants"
STORAGE_ID = "65a100000000000000000777"
PROJECT_B = "6500000000000000000000bb"
_counter = itertools.count()


@dataclass(frozen=True)
class Site:
    api: FlywheelAPI
    uri: str


@pytest.fixture
def site(flywheel_api: FlywheelAPI, s3_server: S3Server) -> Iterator[Site]:
    """Centres neuro/site_a and psych/site_b; alice has roles on both, bob on site_a only."""
    s3_server.create_bucket(BUCKET)
    options = s3_server.location_options()
    run = next(_counter)
    fs = open_location(Location("s3", BUCKET, "", options))
    write_centre(fs, f"{BUCKET}/{run}/a", {"sessions": rows(SESSIONS, ("x1", "s1", 1))})
    write_centre(
        fs, f"{BUCKET}/{run}/b", {"sessions": rows(SESSIONS, ("y1", "s7", 1), ("y2", "s8", 2))}
    )
    creds = (
        f"s3://{BUCKET}?access_key_id={options['access_key_id']}"
        f"&secret_access_key={options['secret_access_key']}"
    )
    config = {"type": "s3", "bucket": BUCKET, "endpoint_url": options["endpoint_url"]}

    def project(group: str, label: str, prefix: str, users: list[str], **extra: str) -> dict:
        dataset = {"type": "s3", "bucket": BUCKET, "prefix": prefix, "storage_id": STORAGE_ID}
        return {
            **extra,
            "group": group,
            "label": label,
            "info": {"dataset": dataset},
            "permissions": [{"_id": user, "role_ids": ["ro"]} for user in users],
        }

    flywheel_api.load(
        users=[
            {"id": "svc@x.org", "api_key": "svckey", "admin": True},
            {"id": "alice@x.org", "api_key": "alicekey"},
            {"id": "bob@x.org", "api_key": "bobkey"},
        ],
        storages=[{"_id": STORAGE_ID, "config": config, "url": creds}],
        projects=[
            project("neuro", "site_a", f"{run}/a", ["svc@x.org", "alice@x.org", "bob@x.org"]),
            project("psych", "site_b", f"{run}/b", ["svc@x.org", "alice@x.org"], _id=PROJECT_B),
        ],
    )
    settings = Settings(
        flywheel=FlywheelSettings(api_key=flywheel_api.api_key("svc@x.org"), exhaustive=True),
        federated=[{"name": "both", "centres": {"a": "fw://neuro/site_a", "b": PROJECT_B}}],
    )
    with running_server(settings) as uri:
        yield Site(flywheel_api, uri)


def connect(site: Site, user: str) -> flight_sql.Connection:
    login = {"username": "flywheel", "password": site.api.api_key(user)}
    return flight_sql.connect(site.uri, db_kwargs=login)


def schemas_listed(conn: flight_sql.Connection) -> set[tuple[str, str]]:
    objects = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
    return {
        (catalog["catalog_name"], schema["db_schema_name"])
        for catalog in objects
        for schema in catalog["catalog_db_schemas"] or []
    }


def error_of(conn: flight_sql.Connection, query: str) -> adbc_driver_manager.Error:
    with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error) as caught:
        cur.execute(query)
        cur.fetchall()
    return caught.value


def test_user_with_every_centre_reads_and_lists_the_union(site: Site) -> None:
    with connect(site, "alice@x.org") as conn, conn.cursor() as cur:
        cur.execute("SELECT center, id FROM federated.both.sessions ORDER BY id")
        assert cur.fetchall() == [("a", "x1"), ("b", "y1"), ("b", "y2")]
        cur.execute("SELECT count(*) FROM federated.both._duplicates")
        assert cur.fetchone() == (1,)
        assert ("federated", "both") in schemas_listed(conn)


def test_user_with_some_centres_sees_no_union(site: Site) -> None:
    with connect(site, "bob@x.org") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM neuro.site_a.sessions")  # bob's own centre
        assert cur.fetchone() == (1,)
        hidden = error_of(conn, "SELECT * FROM federated.both.sessions")
        missing = error_of(conn, "SELECT * FROM federated.nothing.sessions")
        assert "NOT_FOUND" in str(hidden)
        assert type(hidden) is type(missing)
        strip = re.compile(r"both|nothing")
        assert strip.sub("", str(hidden)) == strip.sub("", str(missing))
        listed = schemas_listed(conn)
        assert ("neuro", "site_a") in listed
        assert not any(catalog == "federated" for catalog, _ in listed)
