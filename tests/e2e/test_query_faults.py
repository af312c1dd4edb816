"""Faults under running queries: a file deleted or truncated after the catalog was read,
storage answering 500s, hanging, or refusing the server's credentials, mid-stream.

Each query fails with a Flight error that names the table and its status (never a path,
bucket, endpoint, protocol or key); other queries keep running; the next refresh notices.
Storage is the local disk and moto S3, reached through a small HTTP proxy that injects
the faults.
"""

from __future__ import annotations

import http.client
import itertools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.config import AuthSettings, DatasetSettings, EngineSettings, Settings
from flight_server.configured_server import flight_sql_server
from flight_server.runtime import Runtime
from flight_server.storage import Location, open_location
from tests.centres import write_centre
from tests.servers.s3 import S3Server
from tests.servers.threaded import ThreadedServer

BUCKET = "fw-query-faults"
_counter = itertools.count()
# Nothing of where the files live may reach the caller.
_LEAKS = re.compile(r"/|fwds|fw[0-9a-f]{8}|127\.0\.0\.1|http|testing|Traceback|parquet")


def big_table(rows: int, start: int = 0) -> pa.Table:
    """Rows of incompressible text, ids from ``start``."""
    return pa.table(
        {
            "id": pa.array(range(start, start + rows)),
            "text": pa.array([os.urandom(12).hex() for _ in range(rows)]),
        }
    )


def write_dataset(fs: fsspec.AbstractFileSystem, root: str, files: int) -> list[str]:
    """Tables ``small`` (10 rows) and ``big``: ``files`` files of 5,000 rows in row groups
    of 1,000, so a stream reads storage again and again, far beyond any cached file tail.
    Returns big's files."""
    write_centre(fs, root, {"big": big_table(5_000), "small": big_table(10)})
    folder = f"{root}/versions/6543a1b2c3d4e5f6071829aa/tables/big"
    paths = [f"{folder}/part-{n}.parquet" for n in range(files)]
    for n, path in enumerate(paths):
        sink = pa.BufferOutputStream()
        pq.write_table(big_table(5_000, n * 5_000), sink, row_group_size=1_000)
        fs.pipe(path, sink.getvalue().to_pybytes())
    return paths


@dataclass
class Served:
    uri: str
    runtime: Runtime


@contextmanager
def serving(settings: Settings) -> Iterator[Served]:
    """A real server in this process whose runtime the test refreshes itself."""
    runtime = Runtime(settings)
    runtime.refresh()
    server = flight_sql_server(runtime, "grpc://127.0.0.1:0")
    try:
        yield Served(f"grpc://127.0.0.1:{server.port}", runtime)
    finally:
        server.shutdown()


def settings_for(*datasets: DatasetSettings) -> Settings:
    return Settings(
        datasets=list(datasets),
        auth=AuthSettings(anonymous=True),
        engine=EngineSettings(threads=1, batch_rows=2048),
        storage={"timeout_seconds": 1, "retries": 0},
    )


def failure(conn: flight_sql.Connection, query: str) -> adbc_driver_manager.Error:
    with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error) as caught:
        cur.execute(query)
        cur.fetch_arrow_table()
    return caught.value


def caller_text(error: BaseException) -> str:
    """What the server said, without ADBC's own framing ("Detail: ...", the call name)."""
    text = str(error).split("[FlightSQL] ", 1)[-1]
    return text.split(". Detail:", 1)[0]


def count(conn: flight_sql.Connection, query: str) -> int:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchone()[0]


# -- local disk ---------------------------------------------------------------------------


@pytest.fixture
def local_dataset(tmp_path: Path) -> Path:
    write_dataset(fsspec.filesystem("file", auto_mkdir=True), str(tmp_path / "proj1"), 2)
    return tmp_path / "proj1"


def test_local_file_deleted_after_refresh(local_dataset: Path) -> None:
    settings = settings_for(DatasetSettings(name="proj1", location=str(local_dataset)))
    with serving(settings) as served, flight_sql.connect(served.uri) as conn:
        assert count(conn, "SELECT count(*) FROM local.proj1.big") == 10_000
        next(local_dataset.glob("versions/*/tables/big/part-0.parquet")).unlink()
        error = failure(conn, "SELECT * FROM local.proj1.big")
        assert "NOT_FOUND" in str(error)
        text = caller_text(error)
        assert text.startswith("cannot read local.proj1.big: a data file is gone")
        assert not _LEAKS.search(str(error)), error
        assert count(conn, "SELECT count(*) FROM local.proj1.small") == 10
        served.runtime.refresh()
        assert count(conn, "SELECT count(*) FROM local.proj1.big") == 5_000


def test_local_file_truncated_after_refresh(local_dataset: Path) -> None:
    settings = settings_for(DatasetSettings(name="proj1", location=str(local_dataset)))
    with serving(settings) as served, flight_sql.connect(served.uri) as conn:
        assert count(conn, "SELECT count(*) FROM local.proj1.big") == 10_000  # footers read
        path = next(local_dataset.glob("versions/*/tables/big/part-0.parquet"))
        path.write_bytes(path.read_bytes()[:1000])
        error = failure(conn, "SELECT max(text) FROM local.proj1.big")
        assert "INTERNAL" in str(error)
        text = caller_text(error)
        assert text.startswith("cannot read local.proj1.big: a data file is truncated or corrupt")
        assert not _LEAKS.search(str(error)), error
        assert count(conn, "SELECT count(*) FROM local.proj1.small") == 10
        served.runtime.refresh()
        # The refresh saw a new listing: the table's next use reads its footers again,
        # and fails naming the file.
        error = failure(conn, "SELECT * FROM local.proj1.big")
        assert "INTERNAL" in str(error)
        named = "file tables/big/part-0.parquet"  # inside the dataset, as listings show it
        assert caller_text(error).startswith(
            f"cannot read local.proj1.big: {named} is truncated or corrupt"
        )
        assert not _LEAKS.search(str(error).replace(named, "")), error
        assert count(conn, "SELECT count(*) FROM local.proj1.small") == 10


# -- S3 through a fault-injecting proxy ---------------------------------------------------


class FaultProxy(ThreadedServer):
    """Forwards HTTP to moto; ``fault`` makes data reads (ranged GETs) fail as told."""

    thread_name = "fault-proxy"

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.removeprefix("http://")
        self.fault: str | None = None  # None, "500", "403", "hang", "drop"
        self.release = threading.Event()

    def _make_server(self) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        server.daemon_threads = True
        server.proxy = self  # type: ignore[attr-defined]
        return server

    def stop(self) -> None:
        self.release.set()
        super().stop()


_S3_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "403": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."),
}


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def _forward(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        fault = proxy.fault if self.headers.get("Range") else None
        if fault == "hang":
            proxy.release.wait(30)
            self.close_connection = True
            return
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault in _S3_ERRORS:
            status, code, message = _S3_ERRORS[fault]
            body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(proxy.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        reply = upstream.getresponse()
        data = reply.read()
        self.send_response_only(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("transfer-encoding", "connection"):
                self.send_header(name, value)  # a HEAD's Content-Length is the object's
        if reply.getheader("Content-Length") is None:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class S3Site:
    served: Served
    proxy: FaultProxy
    s3: S3Server
    files: list[str]


@pytest.fixture
def s3_site(s3_server: S3Server, tmp_path: Path) -> Iterator[S3Site]:
    """``local.remote`` on moto S3 behind the proxy and ``local.disk`` on local disk, each
    with tables big (40,000 rows in 8 files) and small."""
    s3_server.create_bucket(BUCKET)
    root = f"{BUCKET}/{next(_counter)}"
    fs = open_location(Location("s3", BUCKET, "", s3_server.location_options()))
    files = write_dataset(fs, root, 8)
    write_dataset(fsspec.filesystem("file", auto_mkdir=True), str(tmp_path / "disk"), 8)
    with FaultProxy(s3_server.endpoint_url) as proxy:
        options = {**s3_server.location_options(), "endpoint_url": proxy.base_url}
        settings = settings_for(
            DatasetSettings(name="remote", location=f"s3://{root}", options=options),
            DatasetSettings(name="disk", location=str(tmp_path / "disk")),
        )
        with serving(settings) as served:
            yield S3Site(served, proxy, s3_server, files)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("500", "its storage answered with a server error"),
        ("hang", "its storage did not answer in time"),
        ("drop", "its storage"),
        ("403", "its storage refused the server's access"),
    ],
)
def test_s3_fault_mid_stream_fails_that_query_only(
    s3_site: S3Site, fault: str, reason: str
) -> None:
    """A stream under way fails with UNAVAILABLE naming its table; a stream over another
    dataset, started before, runs to its end; once the store answers, the table reads."""
    uri = s3_site.served.uri
    with (
        flight_sql.connect(uri) as conn,
        conn.cursor() as remote,
        conn.cursor() as disk,
    ):
        disk.execute("SELECT id FROM local.disk.big")
        healthy = disk.fetch_record_batch()
        rows = healthy.read_next_batch().num_rows
        remote.execute("SELECT * FROM local.remote.big")
        failing = remote.fetch_record_batch()
        assert failing.read_next_batch().num_rows
        s3_site.proxy.fault = fault
        with pytest.raises(Exception) as caught:  # whatever ADBC raises mid-stream
            failing.read_all()
        rows += healthy.read_all().num_rows
    assert rows == 40_000
    assert "Unavailable" in str(caught.value), caught.value
    message = caller_text(caught.value)
    assert message.startswith(f"cannot read local.remote.big: {reason}"), message
    assert not _LEAKS.search(str(caught.value)), caught.value
    s3_site.proxy.fault = None
    with flight_sql.connect(uri) as conn:
        assert count(conn, "SELECT count(*) FROM local.remote.small") == 10
        assert count(conn, "SELECT max(id) FROM local.remote.big") == 39_999


def test_s3_object_deleted_after_refresh(s3_site: S3Site) -> None:
    fs = open_location(Location("s3", BUCKET, "", s3_site.s3.location_options()))
    with flight_sql.connect(s3_site.served.uri) as conn:
        assert count(conn, "SELECT count(*) FROM local.remote.big") == 40_000  # footers read
        fs.rm(s3_site.files[0])
        error = failure(conn, "SELECT max(text) FROM local.remote.big")
        assert "NOT_FOUND" in str(error)
        text = caller_text(error)
        assert text.startswith("cannot read local.remote.big: a data file is gone"), text
        assert not _LEAKS.search(str(error)), error
        assert count(conn, "SELECT count(*) FROM local.remote.small") == 10
        s3_site.served.runtime.refresh()
        assert count(conn, "SELECT count(*) FROM local.remote.big") == 35_000
