"""The few Flywheel API calls discovery and key checks need, over plain HTTP(S)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from flight_server.flywheel.api_key import ApiKey

# Projects asked for per listing page.
_PAGE = 500
# Waits between attempts of a failed call: 0.5 s, 1 s, 2 s... at most 5 s.
_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 5.0


class FlywheelError(RuntimeError):
    """A Flywheel API call that failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FlywheelClient:
    """Calls a Flywheel site as the owner of one API key.

    Each call waits at most ``timeout`` seconds; one that fails for a reason that may pass
    (no connection, a timeout, a 5xx or 429, a reply that is not JSON) is tried again up to
    ``retries`` times, so a dead or hanging site costs a known, bounded time.
    """

    def __init__(self, api_key: ApiKey, timeout: float = 30.0, retries: int = 0) -> None:
        self._api_key = api_key
        self._timeout = timeout
        self._retries = retries

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
        attempt = 0
        while True:
            try:
                return self._call_once(method, path, query)
            except FlywheelError as exc:
                transient = exc.status is None or exc.status >= 500 or exc.status == 429
                if not transient or attempt >= self._retries:
                    raise
            time.sleep(min(_BACKOFF_SECONDS * 2**attempt, _MAX_BACKOFF_SECONDS))
            attempt += 1

    def _call_once(self, method: str, path: str, query: dict[str, str] | None) -> Any:
        url = self._api_key.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, method=method)
        request.add_header("Authorization", self._api_key.authorization)
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise FlywheelError(f"{method} {path}: HTTP {exc.code}", exc.code) from None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # may pass: retried
            raise FlywheelError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
