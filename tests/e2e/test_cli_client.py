"""``fw-flight-sql query`` and ``datasets`` against a real server with a federated dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import fw_flight
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from flight_server.cli import main
from flight_server.config import Settings
from tests.centres import consortium_config
from tests.servers.s3 import S3Server
from tests.support import running_server

SQL = "SELECT id, center FROM federated.consortium.subjects ORDER BY id"


@pytest.fixture(scope="module")
def uri(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = consortium_config(s3_server, tmp_path_factory.mktemp("cli-centres"))
    with running_server(Settings(**config)) as server_uri:
        yield server_uri


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_query_formats(uri: str, tmp_path: Path) -> None:
    code, out, _ = run("query", SQL, "--uri", uri, "--format", "csv")
    assert code == 0
    assert out.splitlines()[:3] == ['"id","center"', '"s1","a"', '"s2","a"']
    code, out, _ = run("query", SQL, "--uri", uri, "--format", "json")
    assert [json.loads(line) for line in out.splitlines()][-1] == {"id": "s5", "center": "c"}
    code, out, _ = run("query", SQL, "--uri", uri)
    assert code == 0 and out.splitlines()[0].split() == ["id", "center"]
    assert "(5 rows)" in out
    target = tmp_path / "subjects.parquet"
    code, _, err = run("query", SQL, "--uri", uri, "--format", "parquet", "--output", str(target))
    assert code == 0 and "5 rows written" in err
    assert pq.read_table(target).column("id").to_pylist() == ["s1", "s2", "s3", "s4", "s5"]


def test_query_errors_are_one_line(uri: str) -> None:
    code, out, err = run("query", "SELECT * FROM federated.consortium.nothing", "--uri", uri)
    assert code == 1 and not out
    assert err.startswith("fw-flight-sql: query failed:") and "does not exist" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run("query", "SELECT 1", "--uri", "grpc://127.0.0.1:1")
    assert code == 1 and len(err.strip().splitlines()) == 1


def test_datasets_lists_served_federated_and_skipped(uri: str) -> None:
    code, out, _ = run("datasets", "--uri", uri)
    assert code == 0
    assert any(
        line.split()[:3] == ["federated", "consortium", "federated"] for line in out.splitlines()
    )
    assert "local.nowhere is not a served dataset" in out
    listing = fw_flight.connect(uri).datasets_status()
    served = {(d["catalog"], d["schema"]): d for d in listing["datasets"]}
    assert served["local", "site_a"]["versions"] == 2
    assert served["local", "site_a"]["tables"] == 2
    assert served["federated", "consortium"]["tables"] == 4  # three tables and the report
    assert list(served["federated", "consortium"]["centres"]) == ["a", "b", "c"]
    assert [(s["catalog"], s["schema"]) for s in listing["skipped"]] == [("federated", "broken")]
