"""Credentials never leave the server, skipped or not: scan every output for the secrets.

Datasets are given as storage URLs with their secrets in the query (Flywheel's form), in
options, and through a Flywheel storage's creds URL; most cannot be served (dead
endpoints, refused tokens), one is. The listing (ListDatasets, ``fw-flight-sql datasets``
with and without ``--json``), the ops endpoints and the server's log lines must not
contain one secret.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import fw_flight
import pytest
from click.testing import CliRunner

from flight_server.cli import main
from flight_server.config import CONFIG_ENV, DatasetSettings, Settings
from flight_server.storage import Location, open_location
from flight_server.storage.secrets import display_url, redact
from tests.centres import SUBJECTS, rows, write_centre
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.gcs import GCSServer
from tests.servers.s3 import S3Server
from tests.service_support import get, running_service
from tests.support import free_port

BUCKET = "fw-secrets"
S3_SECRET = "s3-secret-Zq8/x+Yw=="
SERVED_SECRET = "served-secret-K7w2/abc"
AZ_KEY = base64.b64encode(b"azure-account-key-that-is-secret").decode()
FW_SECRET = "flywheel-storage-secret-p9Q"
SAS = "sv=2024&sig=SASsignatureSecret%3D"


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Settings built here: a config file another test named must not add datasets."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def dead() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_display_never_shows_credentials() -> None:
    assert display_url(f"s3://b/p?access_key_id=AK&secret_access_key={S3_SECRET}") == "s3://b/p"
    assert display_url("https://user:pw@host/x?sig=abc") == "https://host/x"
    text = f"az://acct/c/p?sas_token={SAS}; AccountKey=abcdefgh;x"
    assert "SASsignature" not in redact(text) and "abcdefgh" not in redact(text)


def test_secrets_never_leave(
    tmp_path: Path,
    s3_server: S3Server,
    gcs_server: GCSServer,
    flywheel_api: FlywheelAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3_server.create_bucket(BUCKET)
    options = s3_server.location_options()
    store = open_location(Location("s3", BUCKET, "", options))
    write_centre(store, f"{BUCKET}/served", {"subjects": rows(SUBJECTS, ("s1", "a", 1))})
    account = {**gcs_server.service_account_info(), "token_uri": f"{dead()}/token"}
    gs_credentials = base64.b64encode(json.dumps(account).encode()).decode()
    secrets = [S3_SECRET, SERVED_SECRET, AZ_KEY, FW_SECRET, gs_credentials, "SASsignatureSecret"]
    secrets += [line for line in account["private_key"].splitlines() if "PRIVATE" not in line]

    served = (
        f"s3://{BUCKET}/served?access_key_id=testing&secret_access_key={SERVED_SECRET}"
        f"&endpoint_url={options['endpoint_url']}&region=us-east-1"
    )
    datasets = [
        DatasetSettings(name="served", location=served),
        DatasetSettings(
            name="s3dead",
            location=f"s3://{BUCKET}/x?access_key_id=AKIDEAD&secret_access_key={S3_SECRET}"
            f"&endpoint_url={dead()}",
        ),
        DatasetSettings(
            name="azdead",
            location=f"az://devstoreaccount1/box/x?access_key={AZ_KEY}"
            f"&endpoint_url={dead()}/devstoreaccount1",
        ),
        DatasetSettings(
            name="azsas", location=f"az://acct/box/x?sas_token={SAS}&endpoint_url={dead()}/acct"
        ),
        DatasetSettings(
            name="gsdead",
            location=f"gs://{BUCKET}/x?application_credentials={gs_credentials}"
            f"&endpoint_url={gcs_server.endpoint_url}",
        ),
        DatasetSettings(
            name="optdead",
            location=f"s3://{BUCKET}/y",
            options={"secret_access_key": S3_SECRET, "access_key_id": "AK", "endpoint_url": dead()},
        ),
        DatasetSettings(name="badtype", location=f"ftp://host/x?password={S3_SECRET}"),
    ]
    federated = [
        {"name": "fed", "centres": {"a": "local.served", "b": datasets[1].location}},
    ]
    creds = f"s3://{BUCKET}?access_key_id=AKFW&secret_access_key={FW_SECRET}"
    config = {"type": "s3", "bucket": BUCKET, "prefix": "", "endpoint_url": dead()}
    role = [{"_id": "svc@x.org", "role_ids": ["ro"]}]
    flywheel_api.load(
        users=[{"id": "svc@x.org", "api_key": "svckey", "admin": True}],
        storages=[{"_id": "st1", "config": config, "url": creds}],
        projects=[
            {
                "group": "neuro",
                "label": "p1",
                "info": {"dataset": {"type": "s3", "bucket": BUCKET, "storage_id": "st1"}},
                "permissions": role,
            }
        ],
    )
    settings = Settings(
        datasets=datasets,
        federated=federated,
        flywheel={"api_key": flywheel_api.api_key("svc@x.org"), "exhaustive": True},
        storage={"timeout_seconds": 1, "retries": 0},
        refresh_seconds=0,
        auth={"tokens": [{"token": "secret-scan", "user": "ops", "datasets": ["*"]}]},
    )
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="flight_server")
    with running_service(settings) as service:
        assert service.ops is not None
        with fw_flight.connect(service.uri, token="secret-scan") as client:
            listing = client.datasets_status()
        cli = [
            CliRunner().invoke(
                main, ["datasets", "--uri", service.uri, "--token", "secret-scan", *flag]
            )
            for flag in ([], ["--json"])
        ]
        ops = [get(service.ops.port, path)[1] for path in ("/readyz", "/metrics")]

    assert [d["schema"] for d in listing["datasets"]] == ["served"]
    assert {s["schema"] for s in listing["skipped"]} == {
        "s3dead",
        "azdead",
        "azsas",
        "gsdead",
        "optdead",
        "badtype",
        "fed",
        "p1",
    }
    assert all(result.exit_code == 0 for result in cli), [r.output for r in cli]
    outputs = {
        "ListDatasets": json.dumps(listing),
        "datasets": cli[0].output,
        "datasets --json": cli[1].output,
        "/readyz": ops[0],
        "/metrics": ops[1],
        "logs": "\n".join(record.getMessage() for record in caplog.records),
    }
    assert "s3://fw-secrets/x" in outputs["datasets --json"]
    for where, text in outputs.items():
        leaked = [secret[:12] for secret in secrets if secret in text]
        assert not leaked, f"{where} shows secrets starting {leaked}"
