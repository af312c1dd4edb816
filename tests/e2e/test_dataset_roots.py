"""``flywheel.allowed_roots``: projects may point ``info.dataset`` only under allowed roots.

Through the fake Flywheel API with datasets on moto S3 and local disk: a project admin
who points ``info.dataset`` at another prefix, a sibling prefix that shares a name's
start, or a ``..`` path is refused with a reason, and nothing is read from it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import fsspec
import fw_flight
import pytest

from flight_server.config import CONFIG_ENV, ConfigError, Settings, load_settings
from flight_server.storage import Location, open_location
from tests.centres import SUBJECTS, rows, write_centre
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.s3 import S3Server
from tests.service_support import running_service

BUCKET = "fw-roots"
ADMIN = "svc@x.org"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Settings built here: a config file another test named must not add datasets."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def write(fs: fsspec.AbstractFileSystem, root: str) -> None:
    write_centre(fs, root, {"subjects": rows(SUBJECTS, ("s1", "a", 1), ("s2", "b", 2))})


def site(api: FlywheelAPI, s3: S3Server, local: Path) -> str:
    """Projects inside and outside ``study`` on storage st1, and local ones without storage."""
    run = f"run{next(_counter)}"
    s3.create_bucket(BUCKET)
    store = open_location(Location("s3", BUCKET, "", s3.location_options()))
    for prefix in ("study/a", "study2/b", "other/c"):
        write(store, f"{BUCKET}/{run}/{prefix}")
    disk = fsspec.filesystem("file", auto_mkdir=True)
    for folder in ("allowed/d", "elsewhere/e"):
        write(disk, str(local / folder))
    options = s3.location_options()
    creds = (
        f"s3://{BUCKET}?access_key_id={options['access_key_id']}"
        f"&secret_access_key={options['secret_access_key']}"
    )
    config = {"type": "s3", "bucket": BUCKET, "prefix": "", "endpoint_url": options["endpoint_url"]}
    role = [{"_id": ADMIN, "role_ids": ["ro"]}]

    def project(label: str, dataset: dict[str, Any]) -> dict[str, Any]:
        return {"group": "g", "label": label, "info": {"dataset": dataset}, "permissions": role}

    def on_s3(prefix: str) -> dict[str, Any]:
        return {"type": "s3", "bucket": BUCKET, "prefix": f"{run}/{prefix}", "storage_id": "st1"}

    api.load(
        users=[{"id": ADMIN, "api_key": "svckey", "admin": True}],
        storages=[{"_id": "st1", "config": config, "url": creds}],
        projects=[
            project("inside", on_s3("study/a")),
            project("sibling", on_s3("study2/b")),
            project("outside", on_s3("other/c")),
            project("dotdot", on_s3("study/../other/c")),
            project("otherbucket", {**on_s3("study/a"), "bucket": "someone-elses"}),
            project("local", {"type": "local", "bucket": str(local / "allowed"), "prefix": "d"}),
            project("elsewhere", {"type": "local", "bucket": str(local), "prefix": "elsewhere/e"}),
        ],
    )
    return run


def status(service: Any) -> tuple[set[str], dict[str, str]]:
    with fw_flight.connect(service.uri, token="roots") as client:
        listing = client.datasets_status()
    served = {d["schema"] for d in listing["datasets"]}
    return served, {s["schema"]: s["reason"] for s in listing["skipped"]}


def settings(api: FlywheelAPI, allowed: dict[str, list[str]] | None) -> Settings:
    return Settings(
        flywheel={"api_key": api.api_key(ADMIN), "exhaustive": True, "allowed_roots": allowed},
        storage={"timeout_seconds": 2, "retries": 0},
        refresh_seconds=0,
        auth={"tokens": [{"token": "roots", "user": "ops", "datasets": ["*"]}]},
    )


def test_projects_outside_the_allowed_roots_are_refused(
    flywheel_api: FlywheelAPI, s3_server: S3Server, tmp_path: Path
) -> None:
    run = site(flywheel_api, s3_server, tmp_path)
    allowed = {"st1": [f"s3://{BUCKET}/{run}/study"], "environment": [f"file://{tmp_path}/allowed"]}
    s3_server.clear_log()
    with running_service(settings(flywheel_api, allowed)) as service:
        served, reasons = status(service)
    assert served == {"inside", "local"}
    assert set(reasons) == {"sibling", "outside", "dotdot", "otherbucket", "elsewhere"}
    for name in ("sibling", "outside", "otherbucket"):
        assert "outside the roots allowed for storage st1" in reasons[name], reasons[name]
    assert "outside the roots allowed for storage environment" in reasons["elsewhere"]
    assert ". or .. segments" in reasons["dotdot"]
    read = {r.key for r in s3_server.requests} | {r.query for r in s3_server.requests}
    assert not any("study2" in k or "other" in k for k in read), "refused roots are never read"


def test_without_an_allowlist_every_root_is_served(
    flywheel_api: FlywheelAPI, s3_server: S3Server, tmp_path: Path
) -> None:
    site(flywheel_api, s3_server, tmp_path)
    with running_service(settings(flywheel_api, None)) as service:
        served, reasons = status(service)
    assert served == {"inside", "sibling", "outside", "local", "elsewhere"}
    assert set(reasons) == {"dotdot", "otherbucket"}  # S3 keys have no ``..``; no such bucket


def test_a_storage_missing_from_the_allowlist_allows_nothing(
    flywheel_api: FlywheelAPI, s3_server: S3Server, tmp_path: Path
) -> None:
    site(flywheel_api, s3_server, tmp_path)
    with running_service(settings(flywheel_api, {})) as service:
        served, reasons = status(service)
    assert served == set()
    assert "storage st1" in reasons["inside"] and "storage environment" in reasons["local"]


def test_allowed_roots_must_be_storage_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(config))
    for root in ("s3://b/p?secret_access_key=hidden", "just/a/path", "s3://"):
        config.write_text(f"flywheel:\n  allowed_roots:\n    st1: ['{root}']\n")
        with pytest.raises(ConfigError, match="storage URL without a query") as raised:
            load_settings()
        assert "hidden" not in str(raised.value)
