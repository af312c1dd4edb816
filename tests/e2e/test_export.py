"""``fw-flight-sql export``: federated export to the S3 emulator, served back; bounded memory."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from flight_server.cli import main
from flight_server.config import CONFIG_ENV, DatasetSettings, Settings
from flight_server.demo import write_scan_table
from flight_server.storage import Location, open_location
from tests.centres import consortium_config
from tests.servers.s3 import S3Server
from tests.support import REPO, running_server

OUT_BUCKET = "fw-exports"
_counter = itertools.count()


def fetch(uri: str, query: str) -> list[dict]:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table().to_pylist()


def test_export_to_s3_layout_provenance_and_served_back(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = consortium_config(s3_server, tmp_path)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    s3_server.create_bucket(OUT_BUCKET)
    options = s3_server.location_options()
    root = f"{OUT_BUCKET}/{next(_counter)}/consortium"
    args = ["export", "consortium", "--to", f"s3://{root}/versions"]
    args += [arg for key, value in options.items() for arg in ("--option", f"{key}={value}")]

    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    assert "subjects: 8 rows in, 3 duplicates dropped, 5 rows written" in result.output
    fs = open_location(Location("s3", OUT_BUCKET, "", options))
    files = sorted(path[len(root) + 1 :] for path in fs.find(root))
    stamp = files[0].split("/")[1]
    assert re.fullmatch(r"\d{8}-\d{6}", stamp)
    prefix = f"versions/{stamp}"
    assert files == sorted(
        [f"{prefix}/provenance.json", f"{prefix}/provenance/dataset_description.json"]
        + [f"{prefix}/schemas/{t}.schema.json" for t in ("notes", "sessions", "subjects")]
        + [f"{prefix}/tables/{t}/part-00000.parquet" for t in ("notes", "sessions", "subjects")]
    )
    provenance = json.loads(fs.cat(f"{root}/{prefix}/provenance.json"))
    assert provenance["tool"] == "fw-flight-sql" and provenance["tool_version"]
    assert provenance["started"] <= provenance["finished"]
    assert provenance["source"] == {
        "catalog": "federated",
        "name": "consortium",
        "kind": "federated",
    }
    assert [(s["centre"], s["version"]) for s in provenance["sources"]] == [
        ("a", "6543a1b2c3d4e5f6071829aa"),
        ("b", "6543a1b2c3d4e5f6071829aa"),
        ("c", "6543a1b2c3d4e5f6071829aa"),
    ]
    assert provenance["sources"][0]["dataset"] == "local.site_a"
    assert provenance["criteria"] == {"subjects": ["id"], "sessions": ["id", "subject"]}
    counts = {
        t: (c["rows_in"], c["duplicates_dropped"], c["rows_out"])
        for t, c in provenance["tables"].items()
    }
    assert counts == {"notes": (2, 0, 2), "sessions": (4, 1, 3), "subjects": (8, 3, 5)}

    served_back = Settings(
        datasets=[
            *config["datasets"],
            DatasetSettings(name="exported", location=f"s3://{root}", options=options),
        ],
        federated=config["federated"][:1],
    )
    with running_server(served_back) as uri:
        for table in ("subjects", "sessions", "notes"):
            order = "ORDER BY ALL"
            exported = fetch(uri, f"SELECT * FROM local.exported.{table} {order}")
            live = fetch(uri, f"SELECT * FROM federated.consortium.{table} {order}")
            assert exported == live and exported, table
        assert fetch(uri, f'SELECT count(*) AS n FROM local."exported@{stamp}".subjects') == [
            {"n": 5}
        ]


def test_export_of_a_table_larger_than_the_engine_memory_limit(tmp_path: Path) -> None:
    """The export process's peak memory stays far below the table's size in memory."""
    source = write_scan_table(str(tmp_path / "scan"), 8_000_000, files=4)
    table = source.latest.tables["scan"]
    # What the table takes as Arrow in memory: what a materialising export would hold.
    in_memory = sum(pq.read_table(path).nbytes for path in table.files)
    config = {
        "datasets": [{"name": "scan", "location": source.root}],
        "engine": {"memory_limit": "64MB", "threads": 1},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "flight_server", "export", "local.scan"]
    command += ["--to", str(tmp_path / "out"), "--rows-per-file", "3000000"]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={CONFIG_ENV: str(config_file), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert "scan: 8,000,000 rows in, 0 duplicates dropped, 8,000,000 rows written" in stdout
    written = sorted((tmp_path / "out").glob("*/tables/scan/*.parquet"))
    assert [path.name for path in written] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert sum(pq.ParquetFile(path).metadata.num_rows for path in written) == 8_000_000
    # Holding the table would need all of it on top of the interpreter and DuckDB.
    assert peak < in_memory, (peak, in_memory)
