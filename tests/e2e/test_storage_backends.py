"""Storage locations and the S3, GCS and Azure backends against real emulators on loopback.

Needs the fixtures of tests/servers/fixtures.py (loaded by the root conftest.py).
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.core.exceptions import HttpResponseError

from flight_server.storage import Location, StorageError, open_location, parse_location
from flight_server.storage.base import parse_query
from flight_server.storage.flywheel_url import location_from_storage, parse_storage_url
from tests.servers.azurite import AzuriteServer
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.gcs import GCSServer
from tests.servers.s3 import S3Server

# Secrets shaped like the real ones, with every character that naive parsing breaks.
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY&EXAMPLE/KEY=="
AZURE_SECRET_ID = "Ab8Q~x.y_z-0+1/2=3"
BUCKET = "fw-storage-tests"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- parsing ---------------------------------------------------------------------------


def test_query_values_are_literal() -> None:
    # Only "&name=" starts a parameter: "&2=3" and "&flag" stay inside the values.
    query = "a=x/y+z==&b=&c=1&2=3&d=e=f&flag"
    assert parse_query(query) == {"a": "x/y+z==", "b": "", "c": "1&2=3", "d": "e=f&flag"}


def test_parse_s3_url_keeps_tricky_secret() -> None:
    url = f"s3://bkt/datasets/site//grp/?access_key_id=AKIAEXAMPLE&secret_access_key={AWS_SECRET}"
    location = parse_location(url)
    assert (location.type, location.bucket, location.prefix) == ("s3", "bkt", "datasets/site//grp")
    assert location.options == {"access_key_id": "AKIAEXAMPLE", "secret_access_key": AWS_SECRET}
    assert AWS_SECRET not in repr(location) and AWS_SECRET not in str(location)
    assert AWS_SECRET not in location.display()


def test_parse_gs_url_with_base64_and_json_credentials() -> None:
    info = {"type": "service_account", "private_key": "-----BEGIN KEY-----\n+/==\n", "x": "?&"}
    encoded = base64.b64encode(json.dumps(info).encode() + b"\xfb\xff").decode()
    assert "+" in encoded and "/" in encoded and encoded.endswith("=")
    location = parse_location(f"gs://bkt/p?application_credentials={encoded}")
    assert location.options["application_credentials"] == encoded
    text = json.dumps(info)
    location = parse_location(f"gcs://bkt/p/q?application_credentials={text}")
    assert (location.type, location.prefix) == ("gs", "p/q")
    assert json.loads(location.options["application_credentials"]) == info


@pytest.mark.parametrize(
    ("url", "container", "prefix", "expected"),
    [
        (
            "az://acct/ctr/a/b?access_key=k+/y==",
            "ctr",
            "a/b",
            {"account_name": "acct", "access_key": "k+/y=="},
        ),
        ("az://acct.blob.core.windows.net/ctr", "ctr", "", {"account_name": "acct"}),
        (
            "azure://acct.blob.core.usgovcloudapi.net/ctr/p",
            "ctr",
            "p",
            {"account_name": "acct", "endpoint_url": "https://acct.blob.core.usgovcloudapi.net"},
        ),
        (
            f"az://acct/ctr/p?tenant_id=t&client_id=c&client_secret={AZURE_SECRET_ID}",
            "ctr",
            "p",
            {
                "account_name": "acct",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": AZURE_SECRET_ID,
            },
        ),
        ("abfs://ctr@acct.dfs.core.windows.net/p/q", "ctr", "p/q", {"account_name": "acct"}),
        ("abfs://ctr/p", "ctr", "p", {}),
    ],
)
def test_parse_azure_url_forms(
    url: str, container: str, prefix: str, expected: dict[str, str]
) -> None:
    location = parse_location(url)
    assert (location.type, location.bucket, location.prefix) == ("az", container, prefix)
    assert dict(location.options) == expected


def test_parse_location_options_order_and_local_forms() -> None:
    location = parse_location("az://acct/ctr?account_name=other", {"account_name": "mine"})
    assert location.options["account_name"] == "mine"
    assert parse_location("fs:///data/sets/").bucket == "/data/sets"
    assert parse_location("file:///data").bucket == "/data"
    assert parse_location("/data/x/").bucket == "/data/x"


@pytest.mark.parametrize("url", ["s3://", "az://acct", "az://", "ftp://host/x"])
def test_parse_location_rejects(url: str) -> None:
    with pytest.raises(StorageError):
        parse_location(url)


def test_flywheel_storage_urls() -> None:
    s3 = parse_storage_url(f"s3://bkt/pre?access_key_id=AK&secret_access_key={AWS_SECRET}")
    assert (s3.type, s3.bucket, s3.prefix, s3.options["secret_access_key"]) == (
        "s3",
        "bkt",
        "pre",
        AWS_SECRET,
    )
    az = parse_storage_url("az://acct.blob.core.windows.net/ctr/pre?access_key=a+b/c==")
    assert (az.bucket, az.options["account_name"], az.options["access_key"]) == (
        "ctr",
        "acct",
        "a+b/c==",
    )
    assert parse_storage_url("fs:///srv/data").bucket == "/srv/data"
    with pytest.raises(StorageError):
        parse_storage_url("/srv/data")


def test_location_from_storage_record() -> None:
    record = {
        "_id": "st1",
        "label": "main",
        "config": {"type": "s3", "bucket": "bkt", "prefix": "/root/", "region": "eu-west-1"},
    }
    creds = f"s3://bkt/root?access_key_id=AK&secret_access_key={AWS_SECRET}"
    location = location_from_storage(record, creds)
    assert (location.type, location.bucket, location.prefix) == ("s3", "bkt", "root")
    assert location.options == {
        "region": "eu-west-1",
        "access_key_id": "AK",
        "secret_access_key": AWS_SECRET,
    }
    azure = location_from_storage(
        {"config": {"type": "azure", "container": "ctr", "account_name": "acct"}},
        "az://acct/ctr/pre?access_key=k==",
    )
    assert (azure.type, azure.bucket, azure.prefix) == ("az", "ctr", "pre")
    assert azure.options == {"account_name": "acct", "access_key": "k=="}
    only_creds = location_from_storage({"label": "x", "config": {}}, "gs://b/p?anon=true")
    assert (only_creds.type, only_creds.bucket, only_creds.prefix) == ("gs", "b", "p")
    local = location_from_storage({"config": {"type": "local", "path": "/srv/fw"}})
    assert (local.type, local.bucket) == ("fs", "/srv/fw")
    with pytest.raises(StorageError, match="credentials"):
        location_from_storage(record, "gs://bkt/root")
    with pytest.raises(StorageError, match="no bucket"):
        location_from_storage({"config": {"type": "s3"}})


# -- the backends against the emulators ------------------------------------------------


@pytest.fixture(params=["s3", "gs", "az"])
def emulated(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """(storage type, running server) for each backend."""
    name = {"s3": "s3_server", "gs": "gcs_server", "az": "azurite_server"}[request.param]
    server = request.getfixturevalue(name)
    if request.param == "az":
        server.create_container(BUCKET)
    else:
        server.create_bucket(BUCKET)
    return request.param, server


def test_write_list_read_parquet(emulated: tuple[str, Any]) -> None:
    storage_type, server = emulated
    location = Location(storage_type, BUCKET, _unique("ds/site"), server.location_options())
    fs = open_location(location)
    root = location.root
    fs.pipe(f"{root}/provenance/dataset_description.json", b'{"id": "p1"}')
    fs.pipe(f"{root}/tables/subjects/part=1/a.txt", b"0123456789")
    table = pa.table({"id": ["s1", "s2"], "parents.group": ["g", "g"], "age": [1.5, None]})
    with fs.open(f"{root}/tables/subjects/0-0.parquet", "wb") as handle:
        pq.write_table(table, handle)

    assert sorted(fs.ls(f"{root}/tables/subjects", detail=False)) == [
        f"{root}/tables/subjects/0-0.parquet",
        f"{root}/tables/subjects/part=1",
    ]
    assert fs.find(root) == sorted(
        [
            f"{root}/provenance/dataset_description.json",
            f"{root}/tables/subjects/0-0.parquet",
            f"{root}/tables/subjects/part=1/a.txt",
        ]
    )
    assert json.loads(fs.cat_file(f"{root}/provenance/dataset_description.json")) == {"id": "p1"}
    assert fs.cat_file(f"{root}/tables/subjects/part=1/a.txt", start=3, end=6) == b"345"
    path = f"{root}/tables/subjects/0-0.parquet"
    assert pq.read_schema(path, filesystem=fs) == table.schema
    assert pq.read_table(path, filesystem=fs).equals(table)


def test_filesystems_are_reused_per_options_and_never_list_stale(
    emulated: tuple[str, Any],
) -> None:
    storage_type, server = emulated
    location = Location(storage_type, BUCKET, _unique("fresh"), server.location_options())
    first, second = open_location(location), open_location(location)
    assert first is second, "the same location and options reuse one client"
    other_prefix = Location(storage_type, BUCKET, _unique("other"), server.location_options())
    assert open_location(other_prefix) is first, "the prefix does not change the client"
    rotated = Location(
        storage_type, BUCKET, location.prefix, {**server.location_options(), "anon": "false"}
    )
    assert open_location(rotated) is not first, "other options (credentials) get a new client"
    first.pipe(f"{location.root}/a", b"a")
    assert first.ls(location.root, detail=False) == [f"{location.root}/a"]
    first.pipe(f"{location.root}/b", b"b")
    assert first.ls(location.root, detail=False) == [f"{location.root}/a", f"{location.root}/b"]


def test_s3_request_log_counts_ranged_reads(s3_server: S3Server) -> None:
    s3_server.create_bucket(BUCKET)
    location = Location("s3", BUCKET, _unique("log"), s3_server.location_options())
    fs = open_location(location)
    key = f"{location.prefix}/data.bin"
    fs.pipe(f"{BUCKET}/{key}", bytes(range(100)))
    s3_server.clear_log()
    assert fs.cat_file(f"{BUCKET}/{key}", start=10, end=20) == bytes(range(10, 20))
    assert s3_server.count(key) == 1
    assert s3_server.count(key, bucket=BUCKET) == 1
    assert s3_server.count(key, bucket="other") == 0
    (read,) = [r for r in s3_server.requests if r.method == "GET"]
    assert (read.range, read.status) == ("bytes=10-19", 206)
    assert "Credential=testing/" in (read.authorization or "")


def test_s3_secret_from_flywheel_url_reaches_s3fs(s3_server: S3Server) -> None:
    url = (
        f"s3://{BUCKET}/x?access_key_id=AKIAFW&secret_access_key={AWS_SECRET}"
        f"&endpoint_url={s3_server.endpoint_url}&region=us-east-1"
    )
    fs = open_location(parse_storage_url(url))
    assert (fs.key, fs.secret) == ("AKIAFW", AWS_SECRET)
    fs.pipe(f"{BUCKET}/x/{_unique('k')}", b"1")
    assert "Credential=AKIAFW/" in (s3_server.requests[-1].authorization or "")


def test_s3_environment_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    s3_server.create_bucket(BUCKET)
    fs = open_location(Location("s3", BUCKET, "", {"endpoint_url": s3_server.endpoint_url}))
    fs.ls(BUCKET)
    assert "Credential=AKIAENV/" in (s3_server.requests[-1].authorization or "")
    with pytest.raises(StorageError, match="go together"):
        open_location(Location("s3", BUCKET, "", {"access_key_id": "only"}))


def test_gcs_service_account_in_every_form(
    gcs_server: GCSServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcs_server.create_bucket(BUCKET)
    key = f"{_unique('sa')}/x.txt"
    open_location(Location("gs", BUCKET, "", gcs_server.location_options())).pipe(
        f"{BUCKET}/{key}", b"sa"
    )
    info = gcs_server.service_account_info()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    encoded = base64.b64encode(json.dumps(info).encode()).decode()
    endpoint = gcs_server.endpoint_url
    forms = {
        "json": parse_location(f"gs://{BUCKET}?application_credentials={json.dumps(info)}"),
        "base64": parse_storage_url(f"gs://{BUCKET}?application_credentials={encoded}"),
        "path": parse_location(f"gs://{BUCKET}?application_credentials={path}"),
    }
    for name, location in forms.items():
        options = {**location.options, "endpoint_url": endpoint}
        fs = open_location(Location("gs", BUCKET, "", options))
        assert fs.project == GCSServer.project, name
        assert fs.cat_file(f"{BUCKET}/{key}") == b"sa", name
        assert gcs_server.requests[-1].authorization == f"Bearer {GCSServer.access_token}", name

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    fs = open_location(Location("gs", BUCKET, "", {"endpoint_url": endpoint}))
    assert fs.cat_file(f"{BUCKET}/{key}") == b"sa"
    assert gcs_server.requests[-1].authorization == f"Bearer {GCSServer.access_token}"
    assert gcs_server.count(key) == 4


def test_gcs_bad_credentials_do_not_leak(caplog: pytest.LogCaptureFixture) -> None:
    secret = "not-json-not-base64-not-a-file!"
    location = Location("gs", "b", "", {"application_credentials": secret, "mystery": secret})
    with caplog.at_level(logging.WARNING), pytest.raises(StorageError) as error:
        open_location(location)
    assert secret not in str(error.value)
    assert "mystery" in caplog.text and secret not in caplog.text
    external = json.dumps({"type": "external_account", "credential_source": {"file": "/x"}})
    with pytest.raises(StorageError, match="external_account"):
        open_location(Location("gs", "b", "", {"application_credentials": external}))


def test_azure_key_from_flywheel_url_is_checked_by_azurite(azurite_server: AzuriteServer) -> None:
    azurite_server.create_container(BUCKET)
    key = azurite_server.account_key
    assert "/" in key and key.endswith("==")
    url = f"az://{azurite_server.account}/{BUCKET}/{_unique('fw')}?access_key={key}"
    location = parse_storage_url(url)
    options = {**location.options, "endpoint_url": azurite_server.endpoint_url}
    fs = open_location(Location("az", location.bucket, location.prefix, options))
    fs.pipe(f"{location.root}/a.txt", b"az")
    assert fs.cat_file(f"{location.root}/a.txt") == b"az"
    wrong = {**options, "access_key": base64.b64encode(b"x" * 64).decode()}
    with pytest.raises(HttpResponseError, match="authenticate"):
        open_location(Location("az", location.bucket, location.prefix, wrong)).ls(location.root)


def test_azure_environment_credentials(
    azurite_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    azurite_server.create_container(BUCKET)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", azurite_server.account)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", azurite_server.account_key)
    fs = open_location(Location("az", BUCKET, "", {"endpoint_url": azurite_server.endpoint_url}))
    fs.pipe(f"{BUCKET}/{_unique('env')}", b"1")
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.connection_string)
    assert open_location(Location("az", BUCKET, "", {})).ls(BUCKET)


def test_azure_service_principal_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    principal = {"account_name": "acct", "tenant_id": "t", "client_id": "c", "client_secret": "s"}
    with pytest.raises(StorageError, match="https"):
        open_location(Location("az", "c", "", {**principal, "endpoint_url": "http://127.0.0.1:1"}))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint=http://127.0.0.1:1/x")
    with pytest.raises(StorageError, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_location(Location("az", "c", "", principal))
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    with pytest.raises(StorageError, match="go together"):
        open_location(Location("az", "c", "", {"account_name": "acct", "client_id": "c"}))
    fs = open_location(Location("az", "c", "", principal))
    assert fs.account_url == "https://acct.blob.core.windows.net"
    with pytest.raises(StorageError, match="account name"):
        open_location(Location("az", "c", "", {"anon": "true"}))


# -- Flywheel storages through the fake Flywheel API -----------------------------------


def _get(api: FlywheelAPI, path: str, key: str, scheme: str = "Bearer") -> Any:
    request = urllib.request.Request(api.url + path, headers={"Authorization": f"{scheme} {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_storage_from_fake_flywheel_api_opens_azurite(
    flywheel_api: FlywheelAPI, azurite_server: AzuriteServer
) -> None:
    azurite_server.create_container(BUCKET)
    creds = (
        f"az://{azurite_server.account}/{BUCKET}/fw?access_key={azurite_server.account_key}"
        f"&endpoint_url={azurite_server.endpoint_url}"
    )
    key = "k" * 57
    flywheel_api.load(
        users=[{"id": "ann@x.org", "api_key": key}],
        storages=[
            {
                "_id": "st1",
                "label": "az main",
                "config": {"type": "az", "bucket": BUCKET, "prefix": "fw"},
                "url": creds,
            }
        ],
    )
    record = _get(flywheel_api, "/xfer/storages/st1", key)
    url = _get(flywheel_api, "/xfer/storage-creds/st1", key, scheme="scitran-user")["url"]
    location = location_from_storage(record, url)
    assert (location.bucket, location.prefix) == (BUCKET, "fw")
    fs = open_location(location)
    fs.pipe(f"{location.root}/{_unique('f')}", b"1")
    assert fs.ls(location.root)
    assert flywheel_api.count("/xfer/storages/st1") == 1
    assert flywheel_api.count("/xfer/storage-creds/st1", method="GET") == 1


def _call(
    api: FlywheelAPI,
    path: str,
    key: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, JSON body) of one request, errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        api.url + path,
        data=data,
        headers={"Authorization": f"scitran-user {key}", **(headers or {})},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_fake_flywheel_api_discovery_calls(flywheel_api: FlywheelAPI) -> None:
    dataset = {"dataset": {"type": "s3", "bucket": "b", "prefix": "p", "storage_id": "st1"}}
    flywheel_api.load(
        users=[
            {"id": "ann@x.org", "api_key": "annkey"},
            {"id": "root@x.org", "api_key": "rootkey", "admin": True},
        ],
        projects=[
            {
                "group": "neuro",
                "label": f"proj{i}",
                "info": dataset,
                "permissions": [{"_id": "ann@x.org", "role_ids": ["ro"]}] if i < 3 else [],
            }
            for i in range(4)
        ],
    )
    assert flywheel_api.api_key("ann@x.org").endswith(":__force_insecure:annkey")
    status, me = _call(flywheel_api, "/api/auth/status", "annkey")
    assert (status, me["user_id"], me["user_is_admin"]) == (200, "ann@x.org", False)
    assert me["origin"] == {"type": "user", "id": "ann@x.org"}
    assert _get(flywheel_api, "/api/auth/status", "rootkey")["user_is_admin"] is True
    assert _call(flywheel_api, "/api/auth/status", "wrong")[0] == 401

    status, projects = _call(flywheel_api, "/api/projects", "annkey")
    assert status == 200 and [p["label"] for p in projects] == ["proj0", "proj1", "proj2"]
    assert "info" not in projects[0]
    first = projects[0]["_id"]
    full = _call(flywheel_api, "/api/projects?include_all_info=true", "annkey")[1]
    assert full[0]["info"] == dataset
    page = _call(flywheel_api, "/api/projects?limit=2&page=2", "annkey")[1]
    assert (page["count"], page["total"], [p["label"] for p in page["results"]]) == (
        1,
        3,
        ["proj2"],
    )
    after = _call(flywheel_api, f"/api/projects?after_id={first}&limit=1", "annkey")[1]
    assert [p["label"] for p in after["results"]] == ["proj1"]
    headed = _call(
        flywheel_api, "/api/projects", "annkey", headers={"X-Accept-Feature": "pagination"}
    )
    assert headed[1]["total"] == 3
    assert _call(flywheel_api, "/api/projects?skip=-1", "annkey")[0] == 422
    assert _call(flywheel_api, "/api/projects?exhaustive=true", "annkey")[0] == 403
    assert len(_call(flywheel_api, "/api/projects?exhaustive=true", "rootkey")[1]) == 4
    assert _call(flywheel_api, "/api/projects", "rootkey")[1] == []

    hidden = _call(flywheel_api, "/api/projects?exhaustive=1", "rootkey")[1][3]["_id"]
    status, project = _call(flywheel_api, f"/api/projects/{first}", "annkey")
    assert (status, project["info"], project["group"]) == (200, dataset, "neuro")
    assert project["permissions"] == [{"_id": "ann@x.org", "role_ids": ["ro"]}]
    assert _call(flywheel_api, f"/api/projects/{hidden}", "annkey")[0] == 403
    assert _call(flywheel_api, f"/api/projects/{hidden}", "rootkey")[0] == 200
    assert _call(flywheel_api, f"/api/projects/{'0' * 24}", "annkey")[0] == 404

    status, found = _call(flywheel_api, "/api/lookup", "annkey", {"path": ["neuro", "proj1"]})
    assert (status, found["container_type"], found["label"]) == (200, "project", "proj1")
    assert _call(flywheel_api, "/api/lookup", "annkey", {"path": ["neuro", "proj3"]})[0] == 403
    assert _call(flywheel_api, "/api/lookup", "annkey", {"path": ["neuro", "nope"]})[0] == 404

    added = flywheel_api.add_project(
        "neuro", "late", permissions=[{"_id": "ann@x.org", "role_ids": []}]
    )
    flywheel_api.update_project(first, info={"dataset": {"type": "gs", "bucket": "g"}})
    assert _call(flywheel_api, f"/api/projects/{first}", "annkey")[1]["info"]["dataset"] == {
        "type": "gs",
        "bucket": "g",
    }
    assert added in [p["_id"] for p in _call(flywheel_api, "/api/projects", "annkey")[1]]
    assert flywheel_api.count("/api/projects") == 11
    assert flywheel_api.count(f"/api/projects/{first}") == 2
    assert flywheel_api.count("/api/lookup", method="POST") == 3
    assert flywheel_api.counts()["/api/auth/status"] == 3
    flywheel_api.reset_counts()
    assert flywheel_api.count("/api/projects") == 0
    assert _call(flywheel_api, "/api/nothing", "annkey")[0] == 404
