"""Helpers shared by tests: running a real server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.flight as flight

from flight_server.auth.passwords import hash_password
from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    Settings,
    StaticTokenSettings,
    UserSettings,
)
from flight_server.configured_server import flight_sql_server
from flight_server.demo import GeneratedTable
from flight_server.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve ``settings`` in this process on a free port; yield its ``grpc://`` URI."""
    runtime = Runtime(settings)
    runtime.refresh()
    server = flight_sql_server(runtime, "grpc://127.0.0.1:0")
    try:
        yield f"grpc://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


@contextmanager
def credentialed_server(root: str, token: str, user: str) -> Iterator[str]:
    """The dataset at ``root`` as ``local.proj1``, served in this process to callers with
    ``token`` (as ``user``) or the login ana/pw only; small tables split into parts too, as
    the distributed readers' tests need several endpoints from the demo's tables."""
    auth = AuthSettings(
        users={"ana": UserSettings(password_hash=hash_password("pw", n=2**10), datasets=["*"])},
        tokens=[StaticTokenSettings(token=token, user=user, datasets=["*"])],
    )
    settings = Settings(
        datasets=[DatasetSettings(name="proj1", location=root)],
        auth=auth,
        limits={"partition_min_rows": 1},
    )
    with running_server(settings) as uri:
        yield uri


@contextmanager
def server_process(
    *args: str, env: dict[str, str] | None = None, read_output: bool = False, timeout: float = 30.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``fw-flight-sql serve ARGS`` as a child process; yield its URI and the process."""
    port = free_port()
    command = [sys.executable, "-m", "flight_server", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--ops-port", "0", *args]
    with flight_process(
        command, port, env=env, read_output=read_output, timeout=timeout
    ) as running:
        yield running


@contextmanager
def flight_process(
    command: list[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    read_output: bool = False,
    timeout: float = 30.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run a Flight server ``command`` listening on ``port``; yield its URI once it answers.

    With ``read_output`` the server's output is a pipe the caller must keep reading (a full
    pipe blocks the server); otherwise it goes to a file, shown if start-up fails.
    """
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE if read_output else log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        uri = f"grpc://127.0.0.1:{port}"
        try:
            _wait_until_serving(uri, process, log, timeout)
            yield uri, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(uri: str, process: subprocess.Popen, log: IO[str], timeout: float) -> None:
    """Return once the server answers a call. Each try is a new client: a gRPC channel
    that failed to connect waits out a growing reconnect backoff (1 s, 1.6 s, 2.6 s...), by
    which one reused channel noticed a server seconds after it started listening."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = process.stdout.read() if process.stdout else log.read()
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}:\n{output}")
        try:
            with flight.connect(uri) as client:
                client.list_actions(options=flight.FlightCallOptions(timeout=1))
            return
        except flight.FlightUnauthenticatedError:
            return  # it answers; the caller authenticates
        except flight.FlightError:
            time.sleep(0.05)
    log.seek(0)
    raise TimeoutError(f"server at {uri} did not start:\n{log.read()}")


def duckdb_reference(table: GeneratedTable, query: str = "SELECT * FROM t") -> pa.Table:
    """What in-process DuckDB returns for ``query`` over the table's files (``t``)."""
    files = ", ".join(f"'{path}'" for path in table.files)
    hive = "true" if table.partitions else "false"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as the server pins it, whatever the host's zone
    scan = f"read_parquet([{files}], union_by_name=true, hive_partitioning={hive})"
    con.execute(f"CREATE VIEW t AS SELECT * FROM {scan}")
    return con.sql(query).to_arrow_table()


def upload(local_root: str, filesystem: fsspec.AbstractFileSystem, remote_root: str) -> int:
    """Copy a local dataset folder to a remote root file by file; returns the file count."""
    files = [p for p in Path(local_root).rglob("*") if p.is_file()]
    for path in files:
        filesystem.pipe(
            f"{remote_root}/{path.relative_to(local_root).as_posix()}", path.read_bytes()
        )
    return len(files)
