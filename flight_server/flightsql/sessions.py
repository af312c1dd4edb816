"""Flight sessions: an ``arrow_flight_session_id`` cookie and a small in-memory option store.

Everything else in the server is stateless; session options (default catalog and schema)
are the one thing the protocol keeps per client. The store is bounded and forgets idle
sessions, so a session lives on the replica that created it: behind a load balancer,
clients need sticky routing for session options (tickets and handles carry the defaults
they were planned with, so those still work anywhere).
"""

from __future__ import annotations

import secrets
from http.cookies import CookieError, SimpleCookie

import pyarrow.flight as flight

from flight_server.lru import LruCache

SESSION_COOKIE = "arrow_flight_session_id"
MIDDLEWARE_KEY = "fw_session"


class SessionStore:
    """Session id → options, least recently used first; idle or excess sessions are dropped."""

    def __init__(self, max_sessions: int = 10_000, idle_seconds: float = 3600.0) -> None:
        self._sessions: LruCache[str, dict[str, str]] = LruCache(
            max_sessions, idle_seconds, renew_on_read=True
        )

    def options(self, session_id: str | None) -> dict[str, str] | None:
        """A copy of a live session's options, or None for an unknown or expired session."""
        options = self._sessions.get(session_id) if session_id is not None else None
        return dict(options) if options is not None else None

    def update(self, session_id: str, options: dict[str, str]) -> None:
        """Create or replace a session's options."""
        self._sessions.put(session_id, dict(options))

    def close(self, session_id: str) -> bool:
        """Forget a session; False if it did not exist."""
        return self._sessions.pop(session_id) is not None


class SessionMiddleware(flight.ServerMiddleware):
    """Per call: the caller's session id, and the cookie that names a new one.

    Headers go out before the handler runs, so a caller without a session cookie is
    offered a fresh id on every call; nothing is stored until it sets an option.
    """

    def __init__(self, session_id: str | None) -> None:
        self._offer = session_id is None
        self.session_id = session_id or secrets.token_urlsafe(24)

    def sending_headers(self) -> dict[str, str]:
        return {"set-cookie": f"{SESSION_COOKIE}={self.session_id}"} if self._offer else {}


class SessionMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Reads the session cookie of every call."""

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> SessionMiddleware:
        return SessionMiddleware(_session_cookie(headers.get("cookie", [])))


def _session_cookie(values: list[str]) -> str | None:
    for value in values:
        cookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:
            continue
        if SESSION_COOKIE in cookie and cookie[SESSION_COOKIE].value:
            return cookie[SESSION_COOKIE].value
    return None
