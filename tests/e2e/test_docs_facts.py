"""Facts the docs state, checked against the server: which legacy version is the latest,
and where a discovered S3 dataset's custom endpoint comes from."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.config import AuthSettings, DatasetSettings, FlywheelSettings, Settings
from flight_server.storage import Location, open_location
from tests.centres import SUBJECTS, rows, write_centre
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.s3 import S3Server
from tests.support import running_server

_counter = itertools.count()


def write_folder(root: Path, folder: str, version: str, created: str | None, label: str) -> None:
    """One version folder (``latest`` or ``versions/{id}``) whose one row says which it is."""
    base = root / folder
    description = {"id": "6543a1b2c3d4e5f607182930", "name": "ds", "version": version}
    description |= {"version_label": label, "tables": {"t": {"properties": {}}}}
    if created is not None:
        description["created"] = created
    (base / "provenance").mkdir(parents=True)
    (base / "provenance" / "dataset_description.json").write_text(json.dumps(description))
    (base / "tables" / "t").mkdir(parents=True)
    pq.write_table(pa.table({"label": [label]}), base / "tables" / "t" / "part-0.parquet")


def latest_label(root: Path) -> str:
    settings = Settings(
        datasets=[DatasetSettings(name="ds", location=str(root))], auth=AuthSettings(anonymous=True)
    )
    with running_server(settings) as uri, flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT label FROM local.ds.t")
        return cur.fetchone()[0]


@pytest.mark.parametrize("latest_folder", ["latest", "versions/latest"])
def test_undated_legacy_latest_folder_wins_over_dated_older_versions(
    tmp_path: Path, latest_folder: str
) -> None:
    """docs/datasets.md: the legacy ``latest/`` folder is the current version, dated or not."""
    write_folder(
        tmp_path,
        "versions/6543a1b2c3d4e5f607182901",
        "6543a1b2c3d4e5f607182901",
        "2024-01-01T00:00:00Z",
        "older",
    )
    write_folder(tmp_path, latest_folder, "6543a1b2c3d4e5f6071829ff", None, "current")
    assert latest_label(tmp_path) == "current"


def test_legacy_latest_copied_into_versions_stays_current(tmp_path: Path) -> None:
    """Legacy B may also keep the current version under ``versions/{id}``: still current."""
    current = "6543a1b2c3d4e5f6071829ff"
    write_folder(
        tmp_path,
        "versions/6543a1b2c3d4e5f607182901",
        "6543a1b2c3d4e5f607182901",
        "2024-01-01T00:00:00Z",
        "older",
    )
    write_folder(tmp_path, "latest", current, None, "current")
    write_folder(tmp_path, f"versions/{current}", current, None, "current")
    assert latest_label(tmp_path) == "current"


def test_dated_legacy_latest_wins_ties_and_older_dates(tmp_path: Path) -> None:
    write_folder(
        tmp_path,
        "versions/6543a1b2c3d4e5f607182901",
        "6543a1b2c3d4e5f607182901",
        "2024-06-01T00:00:00Z",
        "same-time",
    )
    write_folder(tmp_path, "latest", "6543a1b2c3d4e5f6071829ff", "2024-06-01T00:00:00Z", "current")
    assert latest_label(tmp_path) == "current"


def test_version_written_after_the_legacy_latest_folder_wins(tmp_path: Path) -> None:
    """A current-layout writer adding a version to an old root: the newer date wins."""
    write_folder(tmp_path, "latest", "6543a1b2c3d4e5f6071829ff", "2024-06-01T00:00:00Z", "legacy")
    write_folder(
        tmp_path,
        "versions/6543a1b2c3d4e5f607182902",
        "6543a1b2c3d4e5f607182902",
        "2025-01-01T00:00:00Z",
        "newer",
    )
    assert latest_label(tmp_path) == "newer"


STORAGE_ID = "65a100000000000000000999"


@pytest.mark.parametrize("endpoint_in", ["config", "creds_url"])
def test_discovered_s3_dataset_endpoint_from_record_config_or_creds_url(
    flywheel_api: FlywheelAPI, s3_server: S3Server, endpoint_in: str
) -> None:
    """README and docs/datasets.md: the storage record's ``config.endpoint_url``, or an
    ``endpoint_url`` parameter of its creds URL (which wins), point S3 at the store."""
    bucket, run = "fw-docs-facts", next(_counter)
    s3_server.create_bucket(bucket)
    options = s3_server.location_options()
    fs = open_location(Location("s3", bucket, "", options))
    write_centre(fs, f"{bucket}/{run}", {"subjects": rows(SUBJECTS, ("s1", "a", 1))})
    creds = (
        f"s3://{bucket}?access_key_id={options['access_key_id']}"
        f"&secret_access_key={options['secret_access_key']}"
    )
    config = {"type": "s3", "bucket": bucket}
    if endpoint_in == "config":
        config["endpoint_url"] = options["endpoint_url"]
    else:
        config["endpoint_url"] = "http://127.0.0.1:9"  # nothing listens: the URL's must win
        creds += f"&endpoint_url={options['endpoint_url']}"
    info = {
        "dataset": {"type": "s3", "bucket": bucket, "prefix": str(run), "storage_id": STORAGE_ID}
    }
    flywheel_api.load(
        users=[{"id": "svc@x.org", "api_key": "svckey", "admin": True}],
        storages=[{"_id": STORAGE_ID, "config": config, "url": creds}],
        projects=[{"group": "neuro", "label": "proj1", "info": info}],
    )
    settings = Settings(
        flywheel=FlywheelSettings(api_key=flywheel_api.api_key("svc@x.org"), exhaustive=True),
        auth=AuthSettings(anonymous=True),
    )
    with running_server(settings) as uri, flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM neuro.proj1.subjects")
        assert cur.fetchone() == (1,)
