"""Storage options take their natural YAML types: ``anon: true``, ``project: 123456789``."""

from __future__ import annotations

from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pytest
import yaml

from flight_server.config import CONFIG_ENV, ConfigError, load_settings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.storage import Location, open_location
from tests.servers.gcs import GCSServer
from tests.servers.s3 import S3Server
from tests.support import server_process, upload

BUCKET = "fw-option-types"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    return write_dataset(str(tmp_path_factory.mktemp("options") / "proj1"), subjects=4, seed=8)


def test_yaml_booleans_and_numbers_start_and_serve(
    s3_server: S3Server, gcs_server: GCSServer, source: GeneratedDataset, tmp_path: Path
) -> None:
    """A YAML config with unquoted booleans and a numeric project serves both datasets."""
    s3_server.create_bucket(BUCKET)
    gcs_server.create_bucket(BUCKET)
    upload(
        source.root,
        open_location(Location("s3", BUCKET, "", s3_server.location_options())),
        f"{BUCKET}/s3",
    )
    client = s3_server.client()  # a public dataset: what anon is for
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix="s3/")["Contents"]:
        client.put_object_acl(Bucket=BUCKET, Key=item["Key"], ACL="public-read")
    upload(
        source.root,
        open_location(Location("gs", BUCKET, "", gcs_server.location_options())),
        f"{BUCKET}/gs",
    )
    config = tmp_path / "server.yaml"
    config.write_text(
        "datasets:\n"
        f"  - name: on_s3\n"
        f"    location: s3://{BUCKET}/s3\n"
        f"    options: {{anon: true, endpoint_url: {s3_server.endpoint_url}, region: us-east-1}}\n"
        f"  - name: on_gs\n"
        f"    location: gs://{BUCKET}/gs\n"
        f"    options: {{anon: yes, project: 123456789, endpoint_url: {gcs_server.endpoint_url}}}\n"
        "auth: {anonymous: true}\n"
    )
    assert yaml.safe_load(config.read_text())["datasets"][1]["options"]["project"] == 123456789
    s3_server.clear_log()
    expected = source.row_counts()[source.latest.label]["sessions"]
    with (
        server_process("--config", str(config)) as (uri, _process),
        flight_sql.connect(uri) as conn,
        conn.cursor() as cur,
    ):
        for name in ("on_s3", "on_gs"):
            cur.execute(f"SELECT count(*) FROM local.{name}.sessions")
            assert cur.fetchone()[0] == expected
    # anon: true really reached s3fs: no request was signed.
    sent = [r for r in s3_server.requests if r.bucket == BUCKET]
    assert sent and all(r.authorization is None for r in sent)


def test_options_stay_secret_whatever_their_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "server.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(config))  # load_settings sets it; restored after
    config.write_text(
        "datasets:\n"
        "  - {name: ds, location: s3://b/p, options: {anon: false, secret_access_key: s3cr3t}}\n"
    )
    settings = load_settings(config)
    options = settings.datasets[0].options
    assert {k: v.get_secret_value() for k, v in options.items()} == {
        "anon": "false",
        "secret_access_key": "s3cr3t",
    }
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.model_dump())


def test_option_of_another_shape_is_refused_without_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "server.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(config))
    config.write_text(
        "datasets:\n  - {name: ds, location: s3://b/p, options: {access_key_id: [s3cr3t]}}\n"
    )
    with pytest.raises(ConfigError, match=r"datasets\.0\.options\.access_key_id") as caught:
        load_settings(config)
    assert "s3cr3t" not in str(caught.value)
