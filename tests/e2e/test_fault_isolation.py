"""Chaos with real parts: broken files, dead and silent stores, a failing Flywheel site.

Each test shows the server starts (or refreshes), serves every healthy dataset, and lists
what it left out and why. Stores are real (moto S3 killed and revived, the GCS emulator,
Azurite, local disk, a port nobody listens on, a port that never answers); the Flywheel
site is the fake API with its fault modes.
"""

from __future__ import annotations

import itertools
import json
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import fsspec
import fw_flight
import pyarrow as pa
import pytest

from flight_server.catalog.model import Snapshot
from flight_server.catalog.static import open_dataset
from flight_server.config import CONFIG_ENV, DatasetSettings, Settings
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.runtime import Runtime
from flight_server.storage import Location, open_location, parse_location
from tests.centres import SESSIONS, SUBJECTS, rows, write_centre
from tests.servers.azurite import AzuriteServer
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.gcs import GCSServer
from tests.servers.s3 import S3Server
from tests.service_support import get_json, running_service, scrape
from tests.support import free_port, running_server

LOCAL = fsspec.filesystem("file", auto_mkdir=True)
BUCKET = "fw-chaos"
# Short bounds, so dead parts cost seconds: one storage request, tried twice at most.
FAST = {"timeout_seconds": 1.0, "retries": 1, "load_timeout_seconds": 60.0}
# No retries: a dead store costs exactly one per-call timeout.
ONE_CALL = {"timeout_seconds": 2.0, "retries": 0}
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Settings built here: a config file another test named must not add datasets."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def good_tables() -> dict[str, pa.Table]:
    return {
        "subjects": rows(SUBJECTS, ("s1", "a", 30), ("s2", "b", 40)),
        "sessions": rows(SESSIONS, ("e1", "s1", 1)),
    }


def write_good(root: str, fs: fsspec.AbstractFileSystem = LOCAL) -> str:
    write_centre(fs, root, good_tables())
    return root


def count(uri: str, sql: str, **db_kwargs: str) -> int:
    with flight_sql.connect(uri, db_kwargs=db_kwargs) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def listing(uri: str, **credentials: str) -> dict[str, Any]:
    with fw_flight.connect(uri, **credentials) as client:
        return client.datasets_status()


def served(status: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["catalog"], d["schema"]): d for d in status["datasets"]}


def skipped(status: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(s["catalog"], s["schema"]): s["reason"] for s in status["skipped"]}


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.2)


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung store)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        yield sock.getsockname()[1]


def s3_url(s3: S3Server, prefix: str, endpoint: str | None = None) -> str:
    """A Flywheel-style storage URL with the keys in its query."""
    return (
        f"s3://{BUCKET}/{prefix}?access_key_id={s3.access_key_id}"
        f"&secret_access_key={s3.secret_access_key}&region={s3.region}"
        f"&endpoint_url={endpoint or s3.endpoint_url}"
    )


@pytest.fixture
def s3_good(s3_server: S3Server) -> str:
    """A healthy dataset on moto S3; its prefix is new per test."""
    s3_server.create_bucket(BUCKET)
    prefix = f"good-{next(_counter)}"
    write_good(
        f"{BUCKET}/{prefix}",
        open_location(Location("s3", BUCKET, "", s3_server.location_options())),
    )
    return prefix


# -- files --------------------------------------------------------------------------------


def corrupt_footer(data: bytes) -> bytes:
    """A parquet file whose footer length points far past the start of the file."""
    return data[:-8] + struct.pack("<I", 1 << 30) + b"PAR1"


def test_broken_files_fail_only_their_tables(tmp_path: Path) -> None:
    good = write_good(str(tmp_path / "good"))
    broken = str(tmp_path / "broken")
    tables = {
        **good_tables(),
        "visits": rows(SESSIONS, ("e2", "s2", 2)),
        "notes": rows(SUBJECTS, ("s9", "z", 1)),
    }
    write_centre(LOCAL, broken, tables)
    folder = Path(broken) / "versions/6543a1b2c3d4e5f6071829aa"
    (folder / "tables/sessions/part-1.parquet").write_bytes(b"")  # zero bytes
    (folder / "tables/visits/part-0.parquet").write_bytes(b"this is not parquet at all")
    notes = folder / "tables/notes/part-0.parquet"
    notes.write_bytes(corrupt_footer(notes.read_bytes()))
    (folder / "schemas/subjects.schema.json").write_text("{not json")
    # A second version whose description is a list, not an object.
    write_centre(LOCAL, broken, good_tables(), version="6543a1b2c3d4e5f6071829bb")
    (
        Path(broken) / "versions/6543a1b2c3d4e5f6071829bb/provenance/dataset_description.json"
    ).write_text("[1, 2]")

    datasets = [
        DatasetSettings(name="good", location=good),
        DatasetSettings(name="broken", location=broken),
    ]
    with running_server(Settings(datasets=datasets)) as uri:
        # Footers are read at a table's first use: each broken table fails then, alone,
        # naming its file inside the version, and fails again (nothing kept) next time.
        for _ in range(2):
            for table, file in (
                ("sessions", "part-1"),
                ("visits", "part-0"),
                ("notes", "part-0"),
            ):
                with pytest.raises(flight_sql.InternalError) as raised:
                    count(uri, f"SELECT count(*) FROM local.broken.{table}")
                message = str(raised.value)
                assert (
                    f"cannot read local.broken.{table}: file tables/{table}/{file}.parquet"
                    " is truncated or corrupt" in message
                )
                assert str(tmp_path) not in message
            assert count(uri, "SELECT count(*) FROM local.good.subjects") == 2
            assert count(uri, "SELECT count(*) FROM local.good.sessions") == 1
            # The broken dataset's healthy table is served; a schema file that is not
            # JSON only loses the remarks.
            assert count(uri, "SELECT count(*) FROM local.broken.subjects") == 2
        entry = served(listing(uri))["local", "broken"]
    problems = "\n".join(entry["problems"])
    print(problems)
    assert entry["tables"] == 4 and not entry["stale"]
    assert "table subjects: schema file ignored (invalid JSON" in problems
    assert "versions/6543a1b2c3d4e5f6071829bb: unreadable dataset_description.json" in problems


# -- stores ---------------------------------------------------------------------------------


def test_one_dead_store_costs_at_most_its_timeouts(
    tmp_path: Path, s3_server: S3Server, s3_good: str
) -> None:
    good = write_good(str(tmp_path / "good"))
    healthy = [
        DatasetSettings(name="good", location=good),
        DatasetSettings(name="s3good", location=s3_url(s3_server, s3_good)),
    ]

    def start_up(datasets: list[DatasetSettings]) -> tuple[float, dict[str, Any], dict]:
        settings = Settings(datasets=datasets, storage=ONE_CALL, refresh_seconds=0)
        started = time.perf_counter()
        with running_service(settings) as service:
            seconds = time.perf_counter() - started
            assert count(service.uri, "SELECT count(*) FROM local.s3good.subjects") == 2
            assert count(service.uri, "SELECT count(*) FROM local.good.sessions") == 1
            assert service.ops is not None
            return seconds, listing(service.uri), get_json(service.ops.port, "/readyz")[1]

    healthy_seconds, _, _ = start_up(healthy)
    with silent_port() as silent:
        refusing = f"http://127.0.0.1:{free_port()}"
        dead = [
            DatasetSettings(name="refused", location=s3_url(s3_server, s3_good, refusing)),
            DatasetSettings(
                name="silent", location=s3_url(s3_server, s3_good, f"http://127.0.0.1:{silent}")
            ),
        ]
        seconds, status, ready = start_up([*healthy, *dead])
    bound = ONE_CALL["timeout_seconds"]
    print(
        f"\nstart-up: healthy datasets only {healthy_seconds:.2f} s; with a refusing and a "
        f"silent store {seconds:.2f} s; bound: healthy + per-call timeout = "
        f"{healthy_seconds + bound:.2f} s"
    )
    assert seconds < healthy_seconds + bound + 20, "generous: a loaded machine"
    reasons = skipped(status)
    assert set(reasons) == {("local", "refused"), ("local", "silent")}
    assert "connect" in reasons["local", "refused"].lower()
    assert "timeout" in reasons["local", "silent"].lower()
    assert ready["status"] == "ready" and ready["degraded"]["skipped"] == 2


def test_wrong_cloud_credentials_skip_only_their_datasets(
    tmp_path: Path, gcs_server: GCSServer, azurite_server: AzuriteServer
) -> None:
    gcs_server.create_bucket(BUCKET)
    azurite_server.create_container(BUCKET)
    gcs = gcs_server.location_options()
    write_good(f"{BUCKET}/ds", open_location(Location("gs", BUCKET, "", gcs)))
    azure = azurite_server.location_options()
    write_good(f"{BUCKET}/ds", open_location(Location("az", BUCKET, "", azure)))
    az_location = f"az://{azure['account_name']}/{BUCKET}/ds"
    # An Azure key that is not the account's (Azurite checks shared-key signatures), and
    # service accounts whose token endpoint refuses connections, or never answers: gcsfs
    # refreshes tokens inside the event loop all fsspec stores share.
    wrong_key = "d3Jvbmcta2V5LW5vdC10aGUtYWNjb3VudHMta2V5LWF0LWFsbA=="

    def account(token_uri: str) -> dict[str, str]:
        info = {**gcs_server.service_account_info(), "token_uri": token_uri}
        return {"endpoint_url": gcs["endpoint_url"], "application_credentials": json.dumps(info)}

    with silent_port() as silent:
        datasets = [
            DatasetSettings(name="good", location=write_good(str(tmp_path / "good"))),
            DatasetSettings(name="gsgood", location=f"gs://{BUCKET}/ds", options=gcs),
            DatasetSettings(name="azgood", location=az_location, options=azure),
            DatasetSettings(
                name="gsbad",
                location=f"gs://{BUCKET}/ds",
                options=account(f"http://127.0.0.1:{free_port()}/token"),
            ),
            DatasetSettings(
                name="gshung",
                location=f"gs://{BUCKET}/ds",
                options=account(f"http://127.0.0.1:{silent}/token"),
            ),
            DatasetSettings(
                name="azbad", location=az_location, options={**azure, "access_key": wrong_key}
            ),
        ]
        settings = Settings(datasets=datasets, storage=FAST, refresh_seconds=0)
        with running_service(settings) as service:
            for name in ("good", "gsgood", "azgood"):
                assert count(service.uri, f"SELECT count(*) FROM local.{name}.subjects") == 2
            reasons = skipped(listing(service.uri))
    print(reasons)
    assert set(reasons) == {("local", "gsbad"), ("local", "gshung"), ("local", "azbad")}
    assert "failed to authenticate" in reasons["local", "azbad"]
    assert not any("timed out after" in reason for reason in reasons.values())


def test_a_federated_dataset_with_a_dead_centre_is_skipped_alone(
    tmp_path: Path, s3_server: S3Server, s3_good: str
) -> None:
    a, b = write_good(str(tmp_path / "a")), write_good(str(tmp_path / "b"))
    dead = s3_url(s3_server, s3_good, f"http://127.0.0.1:{free_port()}")
    settings = Settings(
        datasets=[DatasetSettings(name="a", location=a)],
        federated=[
            {"name": "both", "centres": {"a": "local.a", "b": b}},
            {"name": "broken", "centres": {"a": "local.a", "dead": dead}},
        ],
        storage=FAST,
    )
    with running_server(settings) as uri:
        assert count(uri, "SELECT count(*) FROM federated.both.subjects") == 4
        assert count(uri, "SELECT count(*) FROM local.a.subjects") == 2
        reasons = skipped(listing(uri))
    assert list(reasons) == [("federated", "broken")]
    assert "centre dead" in reasons["federated", "broken"]


def test_s3_killed_mid_refresh_keeps_the_last_good_state(
    tmp_path: Path, s3_server: S3Server, s3_good: str
) -> None:
    datasets = [
        DatasetSettings(name="good", location=write_good(str(tmp_path / "good"))),
        DatasetSettings(name="s3good", location=s3_url(s3_server, s3_good)),
    ]
    settings = Settings(datasets=datasets, storage=FAST, refresh_seconds=0.3)
    with running_service(settings) as service:
        uri, runtime = service.uri, service.runtime
        assert service.ops is not None
        assert count(uri, "SELECT count(*) FROM local.s3good.subjects") == 2
        s3_server.kill()  # the background refresh runs every 0.3 s: this lands in one
        try:
            wait_for(
                lambda: (
                    (d := runtime.snapshot.find("local", "s3good")) is not None
                    and d.stale is not None
                ),
                "the S3 dataset is kept, stale",
            )
            entry = served(listing(uri))["local", "s3good"]
            assert entry["stale"] and entry["stale_reason"]
            assert scrape(service.ops.port)["fw_flight_sql_catalog_stale_datasets"] == 1
            assert count(uri, "SELECT count(*) FROM local.good.subjects") == 2
            status, ready = get_json(service.ops.port, "/readyz")
            assert status == 200 and ready["degraded"]["stale"] == 1
        finally:
            s3_server.revive()
        wait_for(
            lambda: runtime.snapshot.find("local", "s3good").stale is None,  # type: ignore[union-attr]
            "the S3 dataset is fresh again",
        )
        assert count(uri, "SELECT count(*) FROM local.s3good.subjects") == 2
        assert not served(listing(uri))["local", "s3good"]["stale"]


# -- a Flywheel site that fails ---------------------------------------------------------------

ADMIN = "svc@x.org"


def flywheel_site(api: FlywheelAPI, s3: S3Server, good_prefix: str) -> dict[str, str]:
    """Projects: two healthy, one on a refusing endpoint, one whose storage record 500s and
    one whose credentials hang. Returns project ids by label."""
    role = [{"_id": ADMIN, "role_ids": ["ro"]}]
    options = s3.location_options()
    creds = f"s3://{BUCKET}?access_key_id={options['access_key_id']}&secret_access_key={options['secret_access_key']}"

    def storage(storage_id: str, endpoint: str) -> dict[str, Any]:
        config = {"type": "s3", "bucket": BUCKET, "prefix": "", "endpoint_url": endpoint}
        return {"_id": storage_id, "config": config, "url": creds}

    def project(label: str, storage_id: str) -> dict[str, Any]:
        info = {"type": "s3", "bucket": BUCKET, "prefix": good_prefix, "storage_id": storage_id}
        return {"group": "neuro", "label": label, "info": {"dataset": info}, "permissions": role}

    api.load(
        users=[{"id": ADMIN, "api_key": "svckey", "admin": True}],
        storages=[
            storage("st-good", options["endpoint_url"]),
            storage("st-dead", f"http://127.0.0.1:{free_port()}"),
            storage("st-bad", options["endpoint_url"]),
            storage("st-slow", options["endpoint_url"]),
            storage("st-other", options["endpoint_url"]),
        ],
        projects=[
            project("ok1", "st-good"),
            project("ok2", "st-other"),
            project("dead", "st-dead"),
            project("garbled", "st-bad"),
            project("slow", "st-slow"),
        ],
    )
    return {label: api.project_id("neuro", label) for label in ("ok1", "ok2")}


def test_a_failing_flywheel_site_never_stops_the_server(
    tmp_path: Path, flywheel_api: FlywheelAPI, s3_server: S3Server, s3_good: str
) -> None:
    ids = flywheel_site(flywheel_api, s3_server, s3_good)
    flywheel_api.max_page = 2  # a large site: every listing comes in pages
    flywheel_api.fault("/xfer/storages/st-bad", "error")
    flywheel_api.fault("/xfer/storage-creds/st-slow", "hang")
    key = flywheel_api.api_key(ADMIN)
    settings = Settings(
        datasets=[DatasetSettings(name="good", location=write_good(str(tmp_path / "good")))],
        flywheel={"api_key": key, "exhaustive": True, "timeout_seconds": 30, "retries": 0},
        # The hung call outlasts the project's deadline: the project is skipped at 3 s.
        storage={**FAST, "load_timeout_seconds": 3.0},
        refresh_seconds=0,
        auth={"tokens": [{"token": "chaos-token", "user": "ops", "datasets": ["*"]}]},
    )
    login = {"token": "chaos-token"}
    auth = {"adbc.flight.sql.authorization_header": "Bearer chaos-token"}
    try:
        with running_service(settings) as service:
            uri, runtime = service.uri, service.runtime
            assert service.ops is not None
            status = listing(uri, **login)
            assert set(served(status)) == {("local", "good"), ("neuro", "ok1"), ("neuro", "ok2")}
            reasons = skipped(status)
            assert set(reasons) == {("neuro", "dead"), ("neuro", "garbled"), ("neuro", "slow")}
            assert "HTTP 500" in reasons["neuro", "garbled"]
            assert reasons["neuro", "slow"] == "timed out after 3 s"
            assert count(uri, "SELECT count(*) FROM neuro.ok1.subjects", **auth) == 2

            # The site answers garbage: every project served before stays, stale.
            flywheel_api.clear_faults()
            flywheel_api.fault("/api/projects", "malformed")
            runtime.refresh()
            status = listing(uri, **login)
            assert {k for k, d in served(status).items() if d["stale"]} == {
                ("neuro", "ok1"),
                ("neuro", "ok2"),
            }
            assert count(uri, "SELECT count(*) FROM neuro.ok2.sessions", **auth) == 1
            ready = get_json(service.ops.port, "/readyz")[1]
            assert ready["status"] == "ready" and "JSON" in ready["degraded"]["flywheel_site"]

            # One storage fails: its project stays stale; the one that never loaded is
            # still skipped, and the one that hung before loads now.
            flywheel_api.clear_faults()
            flywheel_api.fault("/xfer/storage-creds/st-other", "error")
            runtime.refresh()
            status = listing(uri, **login)
            assert served(status)["neuro", "ok2"]["stale"]
            assert not served(status)["neuro", "ok1"]["stale"]
            assert not served(status)["neuro", "slow"]["stale"]
            assert ("neuro", "dead") in skipped(status)
            assert scrape(service.ops.port)["fw_flight_sql_catalog_stale_datasets"] == 1

            # Removed from the site: gone, stale or not.
            flywheel_api.remove_project(ids["ok2"])
            runtime.refresh()
            assert ("neuro", "ok2") not in served(listing(uri, **login))
            metrics = scrape(service.ops.port)
            assert metrics['fw_flight_sql_catalog_skips_total{unit="project"}'] >= 4
            assert metrics['fw_flight_sql_catalog_skips_total{unit="Flywheel site"}'] >= 1
    finally:
        flywheel_api.clear_faults()


def test_a_view_duckdb_refuses_leaves_the_other_views_served(tmp_path: Path) -> None:
    """A table whose files vanish between listing and publishing fails its own view only."""
    root = str(tmp_path / "proj")
    write_good(root)
    runtime = Runtime(Settings(datasets=[DatasetSettings(name="proj", location=root)]))
    dataset = open_dataset("local", "proj", parse_location(root))
    for path in dataset.versions[0].tables["sessions"].files:
        Path(path).unlink()
    runtime.engine.publish(Snapshot((dataset,)))
    runtime.engine.plan("SELECT * FROM local.proj.subjects", QueryContext())
    # Views are made on first use: the refusal fails the query that needs it, as a storage
    # fault under a query does.
    gone = r"cannot read local\.proj\.sessions: file tables/sessions/\S+ is gone"
    with pytest.raises(QueryError, match=gone) as raised:
        runtime.engine.plan("SELECT * FROM local.proj.sessions", QueryContext())
    assert raised.value.kind is ErrorKind.NOT_FOUND
    runtime.engine.plan("SELECT * FROM local.proj.subjects", QueryContext())
