"""The few Flywheel API calls discovery needs, over plain HTTP(S)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from flight_server.catalog.flywheel.api_key import ApiKey


class FlywheelError(RuntimeError):
    """A Flywheel API call that failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FlywheelClient:
    """Calls a Flywheel site as the owner of one API key."""

    def __init__(self, api_key: ApiKey, timeout: float = 30.0) -> None:
        self._api_key = api_key
        self._timeout = timeout

    def auth_status(self) -> dict[str, Any]:
        """Who the key belongs to (``user_id``, ``user_is_admin``...)."""
        return self._call("GET", "/api/auth/status")

    def projects(self, exhaustive: bool = False) -> list[dict[str, Any]]:
        """Projects the caller has a role on (every project for an admin with ``exhaustive``)."""
        query = {"include_all_info": "true"}  # listings otherwise omit custom info
        if exhaustive:
            query["exhaustive"] = "true"
        reply = self._call("GET", "/api/projects", query)
        return reply["results"] if isinstance(reply, dict) else reply

    def project(self, project_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/projects/{urllib.parse.quote(project_id)}")

    def lookup_project(self, group: str, label: str) -> dict[str, Any]:
        """Resolve ``fw://group/label`` to a project record."""
        reply = self._call("POST", "/api/lookup", body={"path": [group, label]})
        kind = reply.get("container_type", "project")
        if kind != "project":
            raise FlywheelError(f"fw://{group}/{label} is a {kind}, not a project")
        return reply

    def storage(self, storage_id: str) -> dict[str, Any]:
        return self._call("GET", f"/xfer/storages/{urllib.parse.quote(storage_id)}")

    def storage_url(self, storage_id: str) -> str:
        """The storage URL with its credentials; never log it."""
        return self._call("GET", f"/xfer/storage-creds/{urllib.parse.quote(storage_id)}")["url"]

    def _call(
        self, method: str, path: str, query: dict[str, str] | None = None, body: object = None
    ) -> Any:
        url = self._api_key.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, method=method)
        request.add_header("Authorization", self._api_key.authorization)
        request.add_header("Accept", "application/json")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, data=data, timeout=self._timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise FlywheelError(f"{method} {path}: HTTP {exc.code}", exc.code) from None
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise FlywheelError(f"{method} {path}: {exc}") from None
