"""An S3 test server: moto's S3 over real HTTP on 127.0.0.1, with a request log.

moto's ThreadedMotoServer builds its WSGI app inside a private method, so there is no
place to observe requests; this runs the same app (``DomainDispatcherApplication``
with moto's request handler) under werkzeug's threaded server, behind a small WSGI
wrapper that records each request. moto's state is process-wide: two S3Server
instances in one process see the same buckets, and a server killed and revived
(``kill()``, ``revive()``, for chaos tests) comes back on its port with its buckets.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from tests.servers.threaded import ThreadedServer


@dataclass(frozen=True)
class S3Request:
    """One request as the server saw it (path-style addressing)."""

    method: str
    bucket: str
    key: str
    query: str
    range: str | None
    authorization: str | None
    status: int


class _QuietHandler(MotoRequestHandler):
    """moto's handler without werkzeug's access log and without a second Server header.

    moto sets its own ``server`` header and http.server adds another; aiohttp's
    pure-Python parser (used with ``python -X dev`` or without its C extension)
    rejects the duplicate and every s3fs listing fails.
    """

    def send_response(self, code: int, message: str | None = None) -> None:
        """http.server's send_response minus the access log and the Server header."""
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def setup(self) -> None:
        super().setup()
        self.server.s3._opened(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.s3._closed(self.connection)  # type: ignore[attr-defined]
        super().finish()


class S3Server(ThreadedServer):
    """moto S3 on a free loopback port; use as a context manager or start()/stop()."""

    access_key_id = "testing"
    secret_access_key = "testing"
    region = "us-east-1"

    thread_name = "s3-server"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._log: list[S3Request] = []
        self._port = 0
        self._connections: set[socket.socket] = set()

    def _make_server(self) -> BaseWSGIServer:
        app = DomainDispatcherApplication(create_backend_app)

        def recording_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
                self._record(environ, int(status.split(" ", 1)[0]))
                return start_response(status, headers, *args)

            return app(environ, recording_start_response)

        server = make_server(
            "127.0.0.1", self._port, recording_app, threaded=True, request_handler=_QuietHandler
        )
        server.daemon_threads = True
        server.s3 = self  # type: ignore[attr-defined]
        self._port = server.server_address[1]
        return server

    def kill(self) -> None:
        """Stop listening and drop every open connection, as a crashed server would."""
        self.stop()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def revive(self) -> None:
        """Listen again on the same port; the buckets are still there."""
        self.start()

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.base_url

    def location_options(self) -> dict[str, str]:
        """The ``Location.options`` that reach this server, in Flywheel's names."""
        return {
            "endpoint_url": self.endpoint_url,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "region": self.region,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server (moto routes by the signed request)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> None:
        """Create a bucket; existing ones are kept (us-east-1 semantics)."""
        self.client().create_bucket(Bucket=name)

    @property
    def requests(self) -> list[S3Request]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._log.clear()

    def count(self, key: str, *, bucket: str | None = None, method: str = "GET") -> int:
        """How many ``method`` requests reached object ``key`` (in ``bucket``, if given)."""
        return sum(
            1
            for r in self.requests
            if r.key == key and r.method == method and bucket in (None, r.bucket)
        )

    def _record(self, environ: dict[str, Any], status: int) -> None:
        # WSGI hands the decoded path over as latin-1; S3 keys are UTF-8.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        bucket, _, key = path.lstrip("/").partition("/")
        entry = S3Request(
            method=environ["REQUEST_METHOD"],
            bucket=bucket,
            key=key,
            query=environ.get("QUERY_STRING", ""),
            range=environ.get("HTTP_RANGE"),
            authorization=environ.get("HTTP_AUTHORIZATION"),
            status=status,
        )
        with self._lock:
            self._log.append(entry)
