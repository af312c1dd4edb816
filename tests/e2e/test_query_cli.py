"""``fw-flight-sql query`` output as users meet it: nested columns, files, pipes, terminals."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
from click.testing import CliRunner

from flight_server.cli import main
from tests.support import REPO

QUERY = [sys.executable, "-m", "flight_server", "query"]
# Fails on a row DuckDB reaches only after the header is out.
FAILS_LATE = (
    "SELECT CAST(CASE WHEN range < 250000 THEN '1' ELSE 'x' END AS INTEGER) AS v FROM range(300000)"
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["query", *args])
    return result.exit_code, result.stderr


def test_csv_writes_nested_values_as_json(server_uri: str, tmp_path: Path) -> None:
    sql = "SELECT id, tags, {'n': visit, 'at': session_date} AS s FROM local.proj1.sessions"
    target = tmp_path / "sessions.csv"
    code, err = run(sql, "--uri", server_uri, "--format", "csv", "--output", str(target))
    assert code == 0, err
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with flight_sql.connect(server_uri) as conn, conn.cursor() as cur:
        cur.execute(sql)
        expected = cur.fetch_arrow_table().to_pylist()
    assert len(rows) == len(expected) > 0
    for row, want in zip(rows, expected, strict=True):
        assert row["id"] == want["id"]
        assert (json.loads(row["tags"]) if row["tags"] else None) == want["tags"]
        assert json.loads(row["s"]) == {"n": want["s"]["n"], "at": str(want["s"]["at"])}


def test_failed_query_leaves_no_partial_file(server_uri: str, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.csv"
    code, err = run(FAILS_LATE, "--uri", server_uri, "--format", "csv", "--output", str(fresh))
    assert code == 1 and "Could not convert" in err
    kept = tmp_path / "kept.parquet"
    kept.write_bytes(b"an earlier result")
    code, _ = run(FAILS_LATE, "--uri", server_uri, "--format", "parquet", "--output", str(kept))
    assert code == 1
    assert kept.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.parquet"]


def test_closed_pipe_ends_quietly(server_uri: str) -> None:
    for fmt in ("csv", "json", "table"):
        process = subprocess.Popen(
            [*QUERY, "SELECT * FROM range(3000000)", "--uri", server_uri, "--format", fmt],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()  # as `| head -1` does, then the reader goes away
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait() == 0, (fmt, err)
        assert err == "", fmt


def screen(output: bytes) -> list[str]:
    """What a terminal shows: each carriage return moves back to overwrite the line."""
    lines = []
    for line in output.decode().replace("\r\n", "\n").split("\n"):
        cells: list[str] = []
        column = 0
        for char in line:
            if char == "\r":
                column = 0
                continue
            if column < len(cells):
                cells[column] = char
            else:
                cells.append(char)
            column += 1
        lines.append("".join(cells).rstrip())
    return lines


def test_live_row_count_is_erased_before_the_table(server_uri: str) -> None:
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*QUERY, "SELECT 7 AS x", "--uri", server_uri],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert process.wait() == 0
    assert screen(output)[:4] == ["x", "-", "7", "(1 rows)"]
