"""The few Flywheel API calls discovery and key checks need, over pooled HTTP(S).

urllib3 does the transport: one pool of keep-alive connections per client (a listing of
many pages, or a discovery of many projects, does not pay a TCP and TLS handshake per
call), and bounded retries with exponential backoff. A reply's body is read inside the
retry, so a reply cut short is retried like a failed connection.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import urllib3
from urllib3.util import Retry, Timeout

from flight_server.flywheel.api_key import ApiKey

# Projects asked for per listing page.
_PAGE = 500
# Waits between attempts of a failed call: none before the first retry, then 0.5 s, 1 s,
# 2 s... at most 5 s; a Retry-After (429, 503) is honoured up to the call timeout.
_BACKOFF_FACTOR = 0.25
_MAX_BACKOFF_SECONDS = 5.0
# Statuses that may pass: the site is busy or failing, rather than refusing the call.
_TRANSIENT = frozenset({429, *range(500, 600)})
# Redirects followed; one to another host goes without the Authorization header.
_REDIRECTS = 3
# Connections kept open per site: as many as discovery loads projects at once
# (``catalog.isolation.LOAD_CONCURRENCY``); more callers at once open extra ones.
_CONNECTIONS = 8


class FlywheelError(RuntimeError):
    """A Flywheel API call that failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def connections(timeout: float = 30.0, retries: int = 0) -> urllib3.PoolManager:
    """Keep-alive connections to Flywheel sites, safe to share between threads and keys.

    Each attempt waits at most ``timeout`` seconds to connect and for each read; a call
    that fails for a reason that may pass (no connection, a timeout, a dropped connection,
    a 5xx or 429) is tried again up to ``retries`` times for each kind of failure, so a
    dead or hanging site costs a known, bounded time.
    """
    retry = Retry(
        total=None,
        connect=retries,
        read=retries,
        status=retries,
        other=retries,
        redirect=_REDIRECTS,
        status_forcelist=_TRANSIENT,
        backoff_factor=_BACKOFF_FACTOR,
        backoff_max=_MAX_BACKOFF_SECONDS,
        retry_after_max=max(1, int(timeout)),
        raise_on_status=False,
    )
    return urllib3.PoolManager(
        num_pools=2,
        maxsize=_CONNECTIONS,
        timeout=Timeout(connect=timeout, read=timeout),
        retries=retry,
    )


class FlywheelClient:
    """Calls a Flywheel site as the owner of one API key, over ``http`` when given (shared
    by the clients of many keys) or over connections of its own, bounded as in
    ``connections``."""

    def __init__(
        self,
        api_key: ApiKey,
        timeout: float = 30.0,
        retries: int = 0,
        *,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self._api_key = api_key
        self._headers = {"Authorization": api_key.authorization, "Accept": "application/json"}
        self._http = http if http is not None else connections(timeout, retries)

    @property
    def site(self) -> str:
        """The site's URL, for messages (the key is not part of it)."""
        return self._api_key.base_url

    def auth_status(self) -> dict[str, Any]:
        """Who the key belongs to (``user_id``, ``user_is_admin``...)."""
        return self._call("GET", "/api/auth/status")

    def projects(self, exhaustive: bool = False) -> list[dict[str, Any]]:
        """Projects the caller has a role on (every project for an admin with ``exhaustive``).

        Pages are followed by ``after_id`` until ``total`` is reached (a site may cap
        ``limit`` below what was asked); a site that does not paginate answers whole.
        """
        query = {"include_all_info": "true", "limit": str(_PAGE)}  # else custom info is cut
        if exhaustive:
            query["exhaustive"] = "true"
        projects: list[dict[str, Any]] = []
        while True:
            reply = self._call("GET", "/api/projects", query)
            if isinstance(reply, list):
                return projects + reply
            if not isinstance(reply, dict) or not isinstance(reply.get("results"), list):
                raise FlywheelError("GET /api/projects: unexpected reply")
            page = reply["results"]
            projects += page
            total = reply.get("total")
            if not page or not isinstance(total, int) or len(projects) >= total:
                return projects
            query["after_id"] = str(page[-1].get("_id", ""))

    def project(self, project_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/projects/{urllib.parse.quote(project_id)}")

    def storage(self, storage_id: str) -> dict[str, Any]:
        return self._call("GET", f"/xfer/storages/{urllib.parse.quote(storage_id)}")

    def storage_url(self, storage_id: str) -> str:
        """The storage URL with its credentials; never log it."""
        return self._call("GET", f"/xfer/storage-creds/{urllib.parse.quote(storage_id)}")["url"]

    def _call(self, method: str, path: str, query: dict[str, str] | None = None) -> Any:
        url = self._api_key.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        try:
            response = self._http.request(method, url, headers=self._headers)
        except urllib3.exceptions.MaxRetryError as exc:
            reason = exc.reason or exc
            raise FlywheelError(f"{method} {path}: {type(reason).__name__}: {reason}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise FlywheelError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status >= 300:
            raise FlywheelError(f"{method} {path}: HTTP {response.status}", response.status)
        try:
            return json.loads(response.data)
        except ValueError as exc:
            raise FlywheelError(f"{method} {path}: the reply is not JSON: {exc}") from None
