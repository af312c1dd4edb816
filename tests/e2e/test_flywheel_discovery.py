"""Flywheel discovery against a fake Flywheel API over real HTTP, datasets on moto S3."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from flight_server.catalog.flywheel.discovery import discover
from flight_server.config import FlywheelSettings, Settings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.flywheel.api_key import ApiKeyError, parse_api_key
from flight_server.flywheel.client import FlywheelClient
from flight_server.storage import Location, open_location
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.s3 import S3Server
from tests.service_support import running_service
from tests.support import running_server, upload

BUCKET = "fw-site"
STORAGE_ID = "65a100000000000000000001"
_counter = itertools.count()


def test_api_key_forms() -> None:
    assert parse_api_key("site.flywheel.io:abc").base_url == "https://site.flywheel.io"
    key = parse_api_key("localhost:8080:__force_insecure:abc")
    assert (key.base_url, key.key) == ("http://localhost:8080", "abc")
    assert key.authorization == "scitran-user abc"
    assert parse_api_key("h:" + "k" * 57).authorization == "Bearer " + "k" * 57
    assert "abc" not in repr(key)
    for bad in ("nokey", "host:", "host:port:key", ":key"):
        with pytest.raises(ApiKeyError):
            parse_api_key(bad)


@dataclass(frozen=True)
class Site:
    api: FlywheelAPI
    local: dict[str, GeneratedDataset]
    s3: S3Server
    prefixes: dict[str, str]


@pytest.fixture
def site(flywheel_api: FlywheelAPI, s3_server: S3Server, tmp_path: Path) -> Iterator[Site]:
    """A site with two good projects, four broken ones and one without a dataset."""
    s3_server.create_bucket(BUCKET)
    run = next(_counter)
    options = s3_server.location_options()
    local = {
        "proj1": write_dataset(str(tmp_path / "proj1"), subjects=5, versions=2, seed=1),
        "proj2": write_dataset(str(tmp_path / "proj2"), layout="legacy_b", subjects=4, seed=2),
    }
    fs = open_location(Location("s3", BUCKET, "", options))
    for name, dataset in local.items():
        upload(dataset.root, fs, f"{BUCKET}/run{run}/{name}")
    fs.pipe(f"{BUCKET}/run{run}/broken/versions/aa/provenance/dataset_description.json", b"{oops")
    creds = f"s3://{BUCKET}?access_key_id={options['access_key_id']}&secret_access_key={options['secret_access_key']}"
    config = {"type": "s3", "bucket": BUCKET, "prefix": "", "endpoint_url": options["endpoint_url"]}

    def dataset(prefix: str, **extra: str) -> dict:
        return {
            "dataset": {
                "type": "s3",
                "bucket": BUCKET,
                "prefix": f"run{run}/{prefix}",
                "storage_id": STORAGE_ID,
                **extra,
            }
        }

    role = [{"_id": "svc@x.org", "role_ids": ["ro"]}]
    flywheel_api.load(
        users=[{"id": "svc@x.org", "api_key": "svckey", "admin": True}],
        storages=[{"_id": STORAGE_ID, "label": "main", "config": config, "url": creds}],
        projects=[
            {"group": "neuro", "label": "proj1", "info": dataset("proj1"), "permissions": role},
            {"group": "psych", "label": "proj2", "info": dataset("proj2"), "permissions": role},
            {
                "group": "neuro",
                "label": "badtype",
                "info": {"dataset": {"type": "ftp", "bucket": "x"}},
                "permissions": role,
            },
            {
                "group": "neuro",
                "label": "nostorage",
                "info": dataset("proj1", storage_id="65a1ffffffffffffffffffff"),
                "permissions": role,
            },
            {
                "group": "neuro",
                "label": "noroot",
                "info": dataset("does/not/exist"),
                "permissions": role,
            },
            {
                "group": "neuro",
                "label": "noversion",
                "info": dataset("broken"),
                "permissions": role,
            },
            {"group": "neuro", "label": "plain", "info": {}, "permissions": role},
        ],
    )
    yield Site(flywheel_api, local, s3_server, {name: f"run{run}/{name}" for name in local})


def test_discovery_serves_good_projects_and_reports_broken_ones(site: Site) -> None:
    api = site.api
    snapshot = discover(FlywheelClient(parse_api_key(api.api_key("svc@x.org"))), exhaustive=True)
    assert {(d.catalog, d.name) for d in snapshot.datasets} == {
        ("neuro", "proj1"),
        ("psych", "proj2"),
    }
    skipped = {s.name: s.reason for s in snapshot.skipped}
    assert set(skipped) == {"badtype", "nostorage", "noroot", "noversion"}
    assert "ftp" in skipped["badtype"]
    assert "404" in skipped["nostorage"]
    assert (
        "no dataset version" in skipped["noroot"]
        and "no valid dataset version" in skipped["noversion"]
    )
    assert all("svckey" not in reason and "testing" not in reason for reason in skipped.values())
    assert api.count("/api/projects") == 1, "one listing call, custom info included"


def test_discovered_datasets_are_queryable(site: Site) -> None:
    api, local = site.api, site.local
    settings = Settings(
        flywheel=FlywheelSettings(api_key=api.api_key("svc@x.org"), exhaustive=True)
    )
    # The discovery key's site also authenticates callers: its users log in with their keys.
    login = {"username": "flywheel", "password": api.api_key("svc@x.org")}
    with (
        running_server(settings) as uri,
        flight_sql.connect(uri, db_kwargs=login) as conn,
        conn.cursor() as cur,
    ):
        for catalog, name in (("neuro", "proj1"), ("psych", "proj2")):
            dataset = local[name]
            cur.execute(f"SELECT count(*) FROM {catalog}.{name}.sessions")
            assert cur.fetchone()[0] == dataset.row_counts()[dataset.latest.label]["sessions"]


def test_new_version_appears_without_restart(site: Site, tmp_path: Path) -> None:
    settings = Settings(
        flywheel=FlywheelSettings(api_key=site.api.api_key("svc@x.org"), exhaustive=True),
        refresh_seconds=0.5,
    )
    root = site.prefixes["proj1"]
    with (
        running_service(settings) as service,
        flight_sql.connect(
            service.uri, db_kwargs={"username": "fw", "password": site.api.api_key("svc@x.org")}
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT count(*) FROM neuro.proj1.sessions")
        before = cur.fetchone()[0]
        # Render a newer version (more sessions) next to the existing ones.
        newer = write_dataset(str(tmp_path / "newer"), subjects=5, versions=3, seed=1001)
        fs = open_location(Location("s3", BUCKET, "", site.s3.location_options()))
        latest = newer.latest
        upload(latest.path, fs, f"{BUCKET}/{root}/versions/{latest.id}")
        expected = newer.row_counts()[latest.label]["sessions"]
        assert expected != before
        assert latest.id not in {v.id for v in site.local["proj1"].versions}
        deadline, seen = time.monotonic() + 30, before
        while seen != expected and time.monotonic() < deadline:
            time.sleep(0.2)
            cur.execute("SELECT count(*) FROM neuro.proj1.sessions")
            seen = cur.fetchone()[0]
        assert seen == expected, "the new version became the latest within the refresh"
        previous = site.local["proj1"].latest.label
        cur.execute(f'SELECT count(*) FROM neuro."proj1@{previous}".sessions')
        assert cur.fetchone()[0] == before, "the previous latest stays reachable by label"


def test_project_by_id(site: Site) -> None:
    client = FlywheelClient(parse_api_key(site.api.api_key("svc@x.org")))
    project_id = site.api.project_id("psych", "proj2")
    assert client.project(project_id)["label"] == "proj2"


def test_federated_centres_by_flywheel_path_and_project_id(site: Site) -> None:
    key = site.api.api_key("svc@x.org")
    project_id = site.api.project_id("psych", "proj2")
    settings = Settings(
        flywheel=FlywheelSettings(api_key=key, exhaustive=True),
        federated=[{"name": "both", "centres": {"x": "fw://neuro/proj1", "y": project_id}}],
        auth={"anonymous": True},  # loopback only; Flywheel grants cover projects, not federations
    )
    with running_server(settings) as uri, flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT center, count(*) AS n FROM federated.both.sessions GROUP BY 1 ORDER BY 1"
        )
        got = cur.fetch_arrow_table().to_pylist()
    counts = {name: ds.row_counts()[ds.latest.label]["sessions"] for name, ds in site.local.items()}
    assert got == [{"center": "x", "n": counts["proj1"]}, {"center": "y", "n": counts["proj2"]}]
