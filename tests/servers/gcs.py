"""A GCS test server: the gcp-storage-emulator package in-process on 127.0.0.1.

The emulator's own request handler and in-memory storage, served by this module's
HTTPServer so that the port is chosen by the OS (no free-port race), requests are
logged, and ``POST /token`` answers as a Google OAuth token endpoint: service-account
credentials whose ``token_uri`` points here (``service_account_info()``) then work
end to end without leaving loopback. It serves gcsfs correctly (listing, multipart and
resumable uploads, ranged media downloads), so fake-gcs-server is not needed.

One request at a time, as the emulator's storage is not thread-safe; the listen
backlog is large so that gcsfs's concurrent connections wait instead of failing.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache, partial
from http.server import HTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage

from tests.servers.threaded import ThreadedServer

_OBJECT_PATH = re.compile(r"^(?:/download|/upload)?/storage/v1/b/([^/]+)/o/(.+)$")


@dataclass(frozen=True)
class GCSRequest:
    """One request as the emulator saw it; ``media`` marks object data reads (alt=media)."""

    method: str
    path: str
    query: str
    bucket: str
    key: str
    media: bool
    range: str | None
    authorization: str | None


class _Server(HTTPServer):
    """The emulator's single-threaded server with room for gcsfs's parallel connects."""

    request_queue_size = 128
    gcs: GCSServer


class _Handler(RequestHandler):
    """The emulator's handler, plus a request log and a fake OAuth token endpoint."""

    server: _Server

    def parse_request(self) -> bool:
        """Record the request once its line and headers are read."""
        ok = super().parse_request()
        if ok:
            self.server.gcs._record(self)
        return ok

    def do_POST(self) -> None:
        """``/token`` is the OAuth endpoint; everything else is the emulator's."""
        if urlsplit(self.path).path != "/token":
            super().do_POST()
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if not form.get("assertion"):
            self.send_error(400, "missing assertion")
            return
        body = json.dumps(
            {"access_token": GCSServer.access_token, "expires_in": 3600, "token_type": "Bearer"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are in GCSServer.requests instead of stderr."""


class GCSServer(ThreadedServer):
    """The GCS emulator on a free loopback port; a context manager or start()/stop()."""

    project = "test-project"
    access_token = "fake-gcs-access-token"

    thread_name = "gcs-server"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._log: list[GCSRequest] = []

    def _make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), partial(_Handler, Storage(use_memory_fs=True)))
        server.gcs = self
        return server

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: gcsfs's ``endpoint_url``."""
        return self.base_url

    def location_options(self) -> dict[str, str]:
        """Anonymous access through this endpoint (the emulator checks no credentials)."""
        return {"endpoint_url": self.endpoint_url, "anon": "true"}

    def service_account_info(self) -> dict[str, str]:
        """A service-account key whose token endpoint is this server (RSA key made once)."""
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": "test-key-1",
            "private_key": _private_key_pem(),
            "client_email": f"tester@{self.project}.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "token_uri": f"{self.endpoint_url}/token",
        }

    def create_bucket(self, name: str) -> None:
        """Create a bucket through the JSON API; existing ones are kept."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/storage/v1/b?project={self.project}",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise

    @property
    def requests(self) -> list[GCSRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._log.clear()

    def count(self, key: str, *, bucket: str | None = None, media: bool = True) -> int:
        """How many GETs reached object ``key``: data reads, or metadata ones if not ``media``."""
        return sum(
            1
            for r in self.requests
            if r.method == "GET"
            and r.key == key
            and r.media == media
            and bucket in (None, r.bucket)
        )

    def _record(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        match = _OBJECT_PATH.match(parts.path)
        bucket, key = (match.group(1), unquote(match.group(2))) if match else ("", "")
        entry = GCSRequest(
            method=handler.command,
            path=unquote(parts.path),
            query=parts.query,
            bucket=bucket,
            key=key,
            media="alt=media" in parts.query.split("&"),
            range=handler.headers.get("Range"),
            authorization=handler.headers.get("Authorization"),
        )
        with self._lock:
            self._log.append(entry)


@cache
def _private_key_pem() -> str:
    """One RSA key per test session: generating it costs ~50 ms."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
