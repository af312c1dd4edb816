"""A fake Flywheel API over real HTTP: the discovery calls of flywheel-datasets.md section 7.

Configured from plain data, changeable while it runs, and counting requests per path
so tests can check what a client caches::

    api = FlywheelAPI(
        users=[{"id": "ann@x.org", "api_key": "annkey", "admin": False}],
        projects=[{"group": "neuro", "label": "proj1", "info": {"dataset": {...}},
                   "permissions": [{"_id": "ann@x.org", "role_ids": ["ro"]}]}],
        storages=[{"_id": "st1", "label": "main", "config": {"type": "s3", ...},
                   "url": "s3://bucket/prefix?access_key_id=...&secret_access_key=..."}],
    ).start()

Behaviour (guesses are marked):

- Auth: ``Authorization: Bearer <key>`` or ``scitran-user <key>`` with the bare key
  (the part after the last ``:`` of a client-side ``host:port:__force_insecure:key``);
  401 otherwise, on every route below.
- ``GET /api/projects``: the projects on which the caller has a role, sorted by id.
  ``exhaustive=true`` lists all of them for site admins and is 403 for others.
  Pagination follows core-api's parameters: ``limit`` (0 = no limit), ``skip``,
  ``page`` (1-based, needs ``limit``), ``after_id`` (not with skip/page). Any of them,
  or an ``X-Accept-Feature`` header naming ``pagination``, turns the reply into
  ``{count, total, results}``; otherwise it is a plain array. ``filter`` and ``sort``
  are answered 400 (not faked). Guess: list items have no ``info`` key unless
  ``include_all_info=true``, as core-api trims them; ``GET /api/projects/{id}`` always has it.
- ``GET /api/projects/{id}``: 404 unknown, 403 without a role (site admins may read all).
- ``POST /api/lookup`` ``{"path": [group, label]}``: the project plus
  ``container_type: "project"``; 404 unknown, 403 without a role; other path lengths 400.
- ``GET /xfer/storages/{id}``: ``{_id, label, config}``; ``GET /xfer/storage-creds/{id}``:
  ``{"url": ...}``; 404 unknown; any authenticated user.

Faults, for chaos tests: ``fault(path, mode)`` makes requests to ``path`` (exact, or every
path under it when it ends in ``/``) answer ``"error"`` (HTTP 500), ``"busy"`` (HTTP 429
with ``Retry-After: 1``), ``"hang"`` (no answer until ``clear_faults()`` or ``stop()``),
``"drop"`` (the connection closed without an answer) or ``"malformed"`` (200 with a body
that is not JSON); with ``times=n`` only the next n requests fail. ``max_page = n`` caps
``limit`` at n and paginates every listing, as a large site does. Each logged request
has the client's port, so tests can count the TCP connections a client opened.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.servers.threaded import ThreadedServer

_PAGING = ("limit", "skip", "page", "after_id")
FAULTS = ("error", "busy", "hang", "drop", "malformed")
# A hung request is answered after this long at the latest, so no test can wait forever.
_HANG_SECONDS = 120.0


@dataclass(frozen=True)
class APIRequest:
    """One request as the fake saw it; ``user`` is None when authentication failed, and
    ``status`` is 0 for a dropped connection."""

    method: str
    path: str
    query: str
    user: str | None
    status: int
    #: The client's TCP port: one per connection.
    port: int = 0


class APIError(Exception):
    """An HTTP error reply with Flywheel's ``{message, status_code}`` body."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class Dropped(Exception):
    """The connection is closed without an answer."""


class FlywheelAPI(ThreadedServer):
    """The fake API on a free loopback port; a context manager or start()/stop()."""

    thread_name = "flywheel-api"

    def __init__(
        self,
        users: Iterable[Mapping[str, Any]] = (),
        projects: Iterable[Mapping[str, Any]] = (),
        storages: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._next_id = 0
        # Path -> (mode, how many more requests fail; None: all).
        self._faults: dict[str, tuple[str, int | None]] = {}
        self._release = threading.Event()
        #: Largest page a listing returns (listings are then always paginated); None: no cap.
        self.max_page: int | None = None
        self.load(users, projects, storages)

    # -- lifecycle -------------------------------------------------------------------

    def _make_server(self) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.api = self  # type: ignore[attr-defined]
        return server

    def stop(self) -> None:
        """Release hung requests, then stop."""
        self._release.set()
        super().stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; the API lives under ``/api`` and ``/xfer``."""
        return self.base_url

    def api_key(self, user_id: str) -> str:
        """The client-side key for ``user_id``: ``127.0.0.1:<port>:__force_insecure:<key>``."""
        with self._lock:
            key = self._users[user_id]["api_key"]
        return f"{self.url.removeprefix('http://')}:__force_insecure:{key}"

    # -- data ------------------------------------------------------------------------

    def load(
        self,
        users: Iterable[Mapping[str, Any]] = (),
        projects: Iterable[Mapping[str, Any]] = (),
        storages: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Replace all users, projects and storages, and forget the request counts."""
        with self._lock:
            self._users: dict[str, dict[str, Any]] = {}
            self._projects: dict[str, dict[str, Any]] = {}
            self._storages: dict[str, dict[str, Any]] = {}
            self._log: list[APIRequest] = []
            for user in users:
                self.add_user(user["id"], user["api_key"], user.get("admin", False))
            for project in projects:
                self.add_project(
                    project["group"],
                    project["label"],
                    info=project.get("info"),
                    permissions=project.get("permissions", ()),
                    project_id=project.get("_id"),
                )
            for storage in storages:
                self.add_storage(
                    storage["_id"], storage["config"], storage["url"], storage.get("label")
                )

    def add_user(self, user_id: str, api_key: str, admin: bool = False) -> None:
        """Add (or replace) a user; ``admin`` makes them a site admin."""
        with self._lock:
            self._users[user_id] = {"id": user_id, "api_key": api_key, "admin": admin}

    def add_project(
        self,
        group: str,
        label: str,
        *,
        info: Mapping[str, Any] | None = None,
        permissions: Iterable[Mapping[str, Any]] = (),
        project_id: str | None = None,
    ) -> str:
        """Add a project and return its id (24 hex digits, increasing, unless given)."""
        with self._lock:
            if project_id is None:
                self._next_id += 1
                project_id = f"{0x650000000000000000000000 + self._next_id:024x}"
            now = _now()
            self._projects[project_id] = {
                "_id": project_id,
                "label": label,
                "group": group,
                "parents": {"group": group},
                "info": copy.deepcopy(dict(info or {})),
                "permissions": [copy.deepcopy(dict(p)) for p in permissions],
                "created": now,
                "modified": now,
            }
            return project_id

    def update_project(self, project_id: str, **fields: Any) -> None:
        """Change fields of a project (``info=...``, ``label=...``, ``permissions=...``)."""
        with self._lock:
            project = self._projects[project_id]
            project.update(copy.deepcopy(fields))
            project["parents"] = {"group": project["group"]}
            project["modified"] = _now()

    def project_id(self, group: str, label: str) -> str:
        """The id of project ``group/label``."""
        with self._lock:
            for project in self._projects.values():
                if (project["group"], project["label"]) == (group, label):
                    return project["_id"]
        raise KeyError(f"{group}/{label}")

    def remove_project(self, project_id: str) -> None:
        """Delete a project."""
        with self._lock:
            del self._projects[project_id]

    def add_storage(
        self, storage_id: str, config: Mapping[str, Any], url: str, label: str | None = None
    ) -> None:
        """Add (or replace) a storage record and its credentials URL."""
        with self._lock:
            self._storages[storage_id] = {
                "record": {
                    "_id": storage_id,
                    "label": label or storage_id,
                    "config": copy.deepcopy(dict(config)),
                },
                "url": url,
            }

    # -- faults ----------------------------------------------------------------------

    def fault(self, path: str, mode: str, times: int | None = None) -> None:
        """Make requests to ``path`` (or under it, if it ends in ``/``) fail as ``mode``:
        the next ``times`` of them, or all until ``clear_faults()``."""
        if mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r}; one of {FAULTS}")
        with self._lock:
            self._faults[path] = (mode, times)
            self._release.clear()

    def clear_faults(self) -> None:
        """Answer normally again, releasing hung requests; and stop capping pages."""
        with self._lock:
            self._faults.clear()
            self.max_page = None
            self._release.set()

    def _fault_for(self, path: str) -> str | None:
        with self._lock:
            for where, (mode, times) in self._faults.items():
                if path == where.rstrip("/") or (where.endswith("/") and path.startswith(where)):
                    if times is not None:
                        if times <= 0:
                            continue
                        self._faults[where] = (mode, times - 1)
                    return mode
        return None

    # -- request log -----------------------------------------------------------------

    @property
    def requests(self) -> list[APIRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def counts(self) -> Counter[str]:
        """Requests per path (query excluded), all methods and outcomes."""
        return Counter(r.path for r in self.requests)

    def count(self, path: str, method: str | None = None) -> int:
        """How many requests reached ``path`` (e.g. ``/api/projects``), optionally by method."""
        return sum(1 for r in self.requests if r.path == path and method in (None, r.method))

    def reset_counts(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._log.clear()

    # -- request handling (called from server threads) -------------------------------

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        port: int = 0,
    ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: (status, JSON-able body or raw bytes, extra headers); raises
        ``Dropped`` to close the connection instead. Logged whatever happens."""
        parts = urlsplit(target)
        path = unquote(parts.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        user: dict[str, Any] | None = None
        fault = self._fault_for(path)
        if fault == "hang":
            self._release.wait(_HANG_SECONDS)
        if fault in ("malformed", "drop"):
            status = 200 if fault == "malformed" else 0
            with self._lock:
                self._log.append(APIRequest(method, path, parts.query, None, status, port))
            if fault == "drop":
                raise Dropped()
            return 200, b'{"results": [{"_id": "truncated', {}
        extra: dict[str, str] = {}
        try:
            if fault == "error":
                raise APIError(500, "injected fault")
            if fault == "busy":
                raise APIError(429, "too many requests", {"Retry-After": "1"})
            route = self._route(method, path)
            user = self._authenticate(headers.get("Authorization", ""))
            status, reply = 200, route(user, path, query, headers, body)
        except APIError as exc:
            status, reply = exc.status, {"message": exc.message, "status_code": exc.status}
            extra = exc.headers
        with self._lock:
            self._log.append(
                APIRequest(method, path, parts.query, user["id"] if user else None, status, port)
            )
        return status, reply, extra

    def _route(self, method: str, path: str) -> Any:
        segments = path.strip("/").split("/")
        routes = {
            ("GET", "api/auth/status"): self._auth_status,
            ("GET", "api/projects"): self._list_projects,
            ("POST", "api/lookup"): self._lookup,
        }
        if (method, "/".join(segments)) in routes:
            return routes[(method, "/".join(segments))]
        if method == "GET" and len(segments) == 3:
            prefix = "/".join(segments[:2])
            handlers = {
                "api/projects": self._get_project,
                "xfer/storages": self._get_storage,
                "xfer/storage-creds": self._get_storage_creds,
            }
            if prefix in handlers:
                return handlers[prefix]
        raise APIError(404, f"{method} {path} is not part of the fake Flywheel API")

    def _authenticate(self, authorization: str) -> dict[str, Any]:
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() not in ("bearer", "scitran-user") or not key.strip():
            raise APIError(401, "missing or malformed Authorization header")
        with self._lock:
            for user in self._users.values():
                if user["api_key"] == key.strip():
                    return dict(user)
        raise APIError(401, "invalid API key")

    def _auth_status(self, user: dict[str, Any], *_: Any) -> dict[str, Any]:
        return {
            "origin": {"type": "user", "id": user["id"]},
            "user_id": user["id"],
            "user_is_admin": user["admin"],
            "is_device": False,
            "roles": ["site_admin"] if user["admin"] else [],
        }

    def _list_projects(
        self, user: dict[str, Any], _path: str, query: dict[str, str], headers: Any, _body: bytes
    ) -> Any:
        for unsupported in ("filter", "sort"):
            if unsupported in query:
                raise APIError(400, f"the fake Flywheel API does not implement {unsupported}=")
        exhaustive = query.get("exhaustive", "").lower() in ("1", "true")
        if exhaustive and not user["admin"]:
            raise APIError(403, f"user {user['id']} is not authorized to request complete lists")
        with self._lock:
            projects = [
                p
                for _, p in sorted(self._projects.items())
                if exhaustive or _has_role(p, user["id"])
            ]
            with_info = query.get("include_all_info", "").lower() in ("1", "true")
            docs = [_project_doc(p, with_info) for p in projects]
        total = len(docs)
        if self.max_page is not None:
            asked = int(query.get("limit") or 0) or self.max_page
            query = {**query, "limit": str(min(asked, self.max_page))}
        docs = _paginate(docs, query)
        feature = headers.get("X-Accept-Feature", "").lower()
        paged = self.max_page is not None or "pagination" in feature
        if paged or any(name in query for name in _PAGING):
            return {"count": len(docs), "total": total, "results": docs}
        return docs

    def _get_project(self, user: dict[str, Any], path: str, *_: Any) -> dict[str, Any]:
        project_id = path.rsplit("/", 1)[1]
        with self._lock:
            project = self._projects.get(project_id)
            if project is None:
                raise APIError(404, f"project {project_id} not found")
            self._check_access(project, user)
            return _project_doc(project, with_info=True)

    def _lookup(
        self, user: dict[str, Any], _path: str, _query: Any, _headers: Any, body: bytes
    ) -> dict[str, Any]:
        try:
            lookup_path = json.loads(body or b"{}").get("path")
        except (ValueError, AttributeError):
            raise APIError(400, "body must be JSON with a path") from None
        if not (isinstance(lookup_path, list) and len(lookup_path) == 2):
            raise APIError(400, "the fake Flywheel API looks up [group, project] paths only")
        group, label = lookup_path
        with self._lock:
            for project in self._projects.values():
                if project["group"] == group and project["label"] == label:
                    self._check_access(project, user)
                    return {**_project_doc(project, with_info=True), "container_type": "project"}
        raise APIError(404, f"no project {group}/{label}")

    def _get_storage(self, _user: Any, path: str, *_: Any) -> dict[str, Any]:
        return copy.deepcopy(self._storage(path)["record"])

    def _get_storage_creds(self, _user: Any, path: str, *_: Any) -> dict[str, str]:
        return {"url": self._storage(path)["url"]}

    def _storage(self, path: str) -> dict[str, Any]:
        storage_id = path.rsplit("/", 1)[1]
        with self._lock:
            if storage_id not in self._storages:
                raise APIError(404, f"storage {storage_id} not found")
            return self._storages[storage_id]

    @staticmethod
    def _check_access(project: dict[str, Any], user: dict[str, Any]) -> None:
        if not (user["admin"] or _has_role(project, user["id"])):
            raise APIError(403, f"user {user['id']} has no role on project {project['_id']}")


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; all logic is in FlywheelAPI.handle."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        api: FlywheelAPI = self.server.api  # type: ignore[attr-defined]
        try:
            status, reply, extra = api.handle(
                self.command, self.path, self.headers, body, self.client_address[1]
            )
        except Dropped:
            self.close_connection = True
            return
        payload = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are in FlywheelAPI.requests instead of stderr."""


def _has_role(project: Mapping[str, Any], user_id: str) -> bool:
    return any(p.get("_id") == user_id for p in project["permissions"])


def _project_doc(project: Mapping[str, Any], with_info: bool) -> dict[str, Any]:
    doc = copy.deepcopy(dict(project))
    if not with_info:
        del doc["info"]
    return doc


def _paginate(docs: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """core-api's limit/skip/page/after_id over id-sorted results."""
    numbers = {}
    for name in ("limit", "skip", "page"):
        if name in query:
            try:
                numbers[name] = int(query[name])
            except ValueError:
                raise APIError(422, f"{name} must be an integer") from None
            if numbers[name] < 0:
                raise APIError(422, f"{name} must not be negative")
    if "after_id" in query:
        if "skip" in numbers or "page" in numbers:
            raise APIError(422, "after_id cannot be used with skip or page")
        docs = [d for d in docs if d["_id"] > query["after_id"]]
    limit = numbers.get("limit", 0)
    skip = numbers.get("skip", 0)
    if "page" in numbers:
        if not limit or numbers["page"] < 1:
            raise APIError(422, "page needs a limit and starts at 1")
        skip = limit * (numbers["page"] - 1)
    return docs[skip : skip + limit] if limit else docs[skip:]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
