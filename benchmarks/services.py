"""The servers a benchmark talks to, each in its own process on a free loopback port.

Separate processes keep the client's GIL out of the server's way, as in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import adbc_driver_flightsql.dbapi as flight_sql

from flight_server.config import ENV_PREFIX
from tests.service_support import scrape
from tests.support import flight_process, free_port, server_process

ROAPI = Path(sys.executable).with_name("roapi")
#: The table cache budget of the "server + table cache" runs: every benchmark table fits.
CACHE_BYTES = "4GiB"
# A read-only server has no transactions; ADBC warns that autocommit stays on.
warnings.filterwarnings("ignore", "Cannot disable autocommit")


class FwServer(NamedTuple):
    """A running fw-flight-sql: where to query it, its process and its ops port."""

    uri: str
    pid: int
    ops_port: int

    def settle_cache(self, timeout: float = 300) -> None:
        """Wait until the table cache copies nothing (the tables queried so far are warm)."""
        deadline = time.monotonic() + timeout
        while scrape(self.ops_port)["fw_flight_sql_table_cache_pending"]:
            if time.monotonic() > deadline:
                raise TimeoutError("the table cache did not settle")
            time.sleep(0.1)


@contextmanager
def fw_server(
    datasets: Mapping[str, str],
    cache_bytes: str | None = None,
    result_cache_bytes: str = "0",
    memory_table_bytes: str = "0",
    engine: Mapping[str, str] | None = None,
) -> Iterator[FwServer]:
    """fw-flight-sql serving ``datasets`` (name → location), with its table cache and its
    memory tables if given, and any other ``engine`` settings (name → value).

    Its results cache is off unless given: benchmarks time a query by repeating it, and
    would time replays (``repeat`` measures those).
    """
    ops_port = free_port()
    args = [arg for name, where in datasets.items() for arg in ("--dataset", f"{name}={where}")]
    env = {f"{ENV_PREFIX}ENGINE__CACHE_BYTES": cache_bytes} if cache_bytes else {}
    env[f"{ENV_PREFIX}ENGINE__RESULT_CACHE_BYTES"] = result_cache_bytes
    env[f"{ENV_PREFIX}ENGINE__MEMORY_TABLE_BYTES"] = memory_table_bytes
    for name, value in (engine or {}).items():
        env[f"{ENV_PREFIX}ENGINE__{name.upper()}"] = value
    with tempfile.TemporaryDirectory(prefix="fw-cache-") as cache_directory:
        env[f"{ENV_PREFIX}ENGINE__CACHE_DIRECTORY"] = cache_directory
        args += ["--ops-port", str(ops_port)]
        # Reading every footer of the largest benchmark datasets takes a while at start-up.
        with server_process(*args, env=env, timeout=120) as (uri, process):
            yield FwServer(uri, process.pid, ops_port)


class Peer(NamedTuple):
    """A running peer server: where to query it and its process (for /proc figures)."""

    uri: str
    pid: int


@contextmanager
def roapi(tables: Mapping[str, Sequence[str]]) -> Iterator[Peer]:
    """ROAPI serving parquet files (table name → files) on its Flight SQL port.

    ROAPI reads every file of a folder (``_SUCCESS`` markers too), so each table gets a
    folder of links to its parquet files only.
    """
    ports = [free_port() for _ in range(3)]
    with tempfile.TemporaryDirectory(prefix="roapi-") as scratch:
        args = []
        for name, files in tables.items():
            folder = Path(scratch, name)
            folder.mkdir()
            for path in files:
                folder.joinpath(Path(path).name).symlink_to(path)
            args += ["-t", f"{name}={folder},format=parquet"]
        with _roapi_process(args, ports) as peer:
            yield peer


@contextmanager
def _roapi_process(args: list[str], ports: list[int]) -> Iterator[Peer]:
    command = [
        str(ROAPI),
        *args,
        "--addr-http", f"127.0.0.1:{ports[0]}",
        "--addr-postgres", f"127.0.0.1:{ports[1]}",
        "--addr-flight-sql", f"127.0.0.1:{ports[2]}",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        uri = f"grpc://127.0.0.1:{ports[2]}"
        try:
            _wait_for_sql(uri, proc, "SELECT 1")
            yield Peer(uri, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@contextmanager
def raw_flight(files: list[str], batch_rows: int) -> Iterator[str]:
    """A bare pyarrow.flight server streaming the files' table from memory; yields its URI."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.rawflight", str(port), str(batch_rows), *files]
    # Loading the table into memory takes a while for the largest sizes.
    with flight_process(command, port, timeout=120) as (uri, _process):
        yield uri


@contextmanager
def bare_flight_sql(
    middleware: bool = False, files: Sequence[str] = (), batch_rows: int = 0
) -> Iterator[Peer]:
    """A Python Flight SQL server answering every statement from memory (no SQL): a few rows,
    or the table of ``files`` in batches of ``batch_rows``; with ``middleware``, reading each
    call's authorization header as an authenticating one must."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.bareflightsql", str(port)]
    command += ["--middleware"] if middleware else []
    command += ["--batch-rows", str(batch_rows), *files] if files else []
    # Loading the table into memory takes a while for the largest sizes.
    with flight_process(command, port, timeout=120) as (uri, process):
        yield Peer(uri, process.pid)


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far (/proc/<pid>/stat), all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM)."""
    return _status_bytes(pid, "VmHWM")


def rss_bytes(pid: int) -> int:
    """The process's resident set size now (VmRSS)."""
    return _status_bytes(pid, "VmRSS")


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for {pid}")


def _wait_for_sql(uri: str, proc: subprocess.Popen, sql: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with flight_sql.connect(uri) as conn, conn.cursor() as cur:
                cur.execute(sql)
                cur.fetch_arrow_table()
                return
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.3)
