"""Start-up and shutdown of the real command: SIGTERM mid-stream, bad configuration, secrets."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from tests.support import REPO, server_process

SECRET = "s3cr3t-t0ken-never-logged"
ROWS = 6_000_000  # ~48 MB of int64: far more than gRPC buffers, so the stream is still live
QUERY = f"SELECT range AS i FROM range({ROWS})"


def _wait_for_line(process: subprocess.Popen, needle: str, seen: list[str]) -> str:
    """Read the server's output until a line contains ``needle`` (pytest-timeout guards it)."""
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"server exited without logging {needle!r}:\n{''.join(seen)}")


def _close_after_shutdown(*handles: flight_sql.Cursor | flight_sql.Connection) -> None:
    """Closing sends RPCs (ClosePreparedStatement) that a stopped server refuses."""
    for handle in handles:
        with contextlib.suppress(flight_sql.Error, RuntimeError):
            handle.close()


def _refused_soon(cursor: flight_sql.Cursor) -> bool:
    """Whether new queries are refused within seconds (the drain is logged just before
    gRPC stops taking calls, so the first attempt may still get through)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        except flight_sql.Error:
            return True
        time.sleep(0.05)
    return False


def _json_lines(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


# Closing an ADBC cursor after the server stopped fails, and ADBC's __del__ then retries.
_ADBC_CLOSE_NOISE = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _serve(grace: str) -> AbstractContextManager[tuple[str, subprocess.Popen]]:
    env = {
        "FW_FLIGHT_SQL_LOG_FORMAT": "json",
        "FW_FLIGHT_SQL_LOG_LEVEL": "DEBUG",
        "FW_FLIGHT_SQL_AUTH__TOKEN_SECRET": SECRET,
        "FW_FLIGHT_SQL_SHUTDOWN_GRACE_SECONDS": grace,
        "FW_FLIGHT_SQL_OPS_PORT": "0",
    }
    return server_process(env=env, read_output=True)


@_ADBC_CLOSE_NOISE
def test_sigterm_lets_a_running_stream_finish() -> None:
    with _serve(grace="120") as (uri, process):
        lines: list[str] = []
        conn = flight_sql.connect(uri)
        cursor = conn.cursor()
        cursor.execute(QUERY)
        reader = cursor.fetch_record_batch()
        rows = reader.read_next_batch().num_rows

        process.send_signal(signal.SIGTERM)
        draining = _wait_for_line(process, "shutting down", lines)
        late = conn.cursor()
        assert _refused_soon(late), "new calls were still accepted while draining"
        rows += sum(batch.num_rows for batch in reader)
        _close_after_shutdown(late, cursor, conn)

        assert process.wait(timeout=60) == 0
        assert process.stdout is not None
        lines += process.stdout.readlines()

    assert rows == ROWS
    assert "1 running query" in json.loads(draining)["message"]
    entries = _json_lines(lines)
    # A "SELECT 1" that got in before gRPC stopped taking calls is logged too (one row).
    (query,) = [e for e in entries if e["logger"] == "flight_server.queries" and e["rows"] != 1]
    assert (query["status"], query["rows"]) == ("ok", ROWS)
    assert {"query_id", "user", "sql_digest", "duration_ms", "bytes"} <= query.keys()
    assert entries[-1]["message"] == "shutdown complete"
    assert not [line for line in lines if SECRET in line]


@_ADBC_CLOSE_NOISE
def test_sigterm_cancels_streams_still_running_after_the_grace_period() -> None:
    with _serve(grace="0") as (uri, process):
        lines: list[str] = []
        conn = flight_sql.connect(uri)
        cursor = conn.cursor()
        cursor.execute(QUERY)
        reader = cursor.fetch_record_batch()
        reader.read_next_batch()

        process.send_signal(signal.SIGTERM)
        _wait_for_line(process, "cancelling 1 running queries", lines)
        with pytest.raises(Exception, match="cancelled"):
            reader.read_all()
        _close_after_shutdown(cursor, conn)

        assert process.wait(timeout=60) == 0
        assert process.stdout is not None
        lines += process.stdout.readlines()

    (query,) = [e for e in _json_lines(lines) if e["logger"] == "flight_server.queries"]
    assert query["status"] == "cancelled" and query["rows"] < ROWS
    assert not [line for line in lines if SECRET in line]


def _serve_once(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flight_server", "serve", "--port", "0", "--ops-port", "0", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BAD_CONFIGS = {
    "yaml syntax": ("config.yaml", "port: [1, 2\n", "not valid YAML (line 2)"),
    "toml syntax": ("config.toml", "port = = 1\n", "not valid TOML"),
    "not a mapping": ("config.yaml", "- port\n", "must contain a mapping"),
    "invalid value": (
        "config.yaml",
        "shutdown_grace_seconds: -1\n",
        "shutdown_grace_seconds: Input should be greater than or equal to 0",
    ),
    "unknown key": ("config.yaml", "prot: 1\n", "prot: Extra inputs are not permitted"),
    "mistyped secret": (
        "config.yaml",
        f"auth:\n  token_secret:\n    nested: {SECRET}\n",
        "auth.token_secret: Input should be a valid string",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_configuration_exits_with_one_readable_line(case: str, tmp_path: Path) -> None:
    name, text, expected = BAD_CONFIGS[case]
    path = tmp_path / name
    path.write_text(text)
    result = _serve_once("--config", str(path))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("fw-flight-sql: invalid configuration: ")
    assert expected in line
    assert SECRET not in result.stderr + result.stdout


def test_missing_config_file_and_bad_environment_value(tmp_path: Path) -> None:
    missing = _serve_once("--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    (line,) = missing.stderr.splitlines()
    assert "No such file or directory" in line

    bad_env = _serve_once(env={"FW_FLIGHT_SQL_SHUTDOWN_GRACE_SECONDS": "soon"})
    assert bad_env.returncode == 2
    (line,) = bad_env.stderr.splitlines()
    assert "shutdown_grace_seconds: Input should be a valid number" in line


def test_unreadable_tls_file_is_a_one_line_startup_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"tls:\n  cert_file: {tmp_path}/no.crt\n  key_file: {tmp_path}/no.key\n")
    result = _serve_once("--config", str(config))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert (
        line
        == f"fw-flight-sql: cannot start: cannot read {tmp_path}/no.crt: No such file or directory"
    )
