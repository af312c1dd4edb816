"""Flywheel API keys as credentials: the site says who owns a key and which projects they see.

The server asks the site *as the caller* (with the caller's own key), so visibility is the
caller's project roles, not the service account's. Answers are cached briefly so a query
does not cost two API calls, and a revoked key stops working within the cache lifetime.
"""

from __future__ import annotations

import hashlib

from flight_server.auth.identity import Caller, Grant
from flight_server.flywheel.api_key import ApiKey, ApiKeyError, parse_api_key
from flight_server.flywheel.client import FlywheelClient, FlywheelError, connections
from flight_server.lru import LruCache

# Statuses with which a site rejects a key rather than failing to answer.
_REJECTED = frozenset({401, 403})


class FlywheelUnavailable(Exception):
    """The site could not be asked, so the key is neither accepted nor rejected."""


class FlywheelKeys:
    """Checks API keys against one configured site (never a site named by the key)."""

    def __init__(
        self,
        site_url: str,
        *,
        ttl_seconds: float = 60.0,
        max_entries: int = 4096,
        timeout: float = 10.0,
    ) -> None:
        self._site = site_url.rstrip("/")
        # Shared by every key's checks: a new caller costs no new TCP or TLS handshake.
        self._http = connections(timeout)
        self._cache: LruCache[str, Caller] = LruCache(max_entries, ttl_seconds)
        # Keys the site rejected, remembered as long: a client repeating a bad key (or a
        # placeholder such as "None") costs the site one call, not one per RPC.
        self._rejected: LruCache[str, bool] = LruCache(max_entries, ttl_seconds)

    def caller_for(self, api_key: str) -> Caller | None:
        """The key's owner and the projects they have a role on; None if the site rejects it."""
        key = self._key_for_site(api_key)
        if key is None:
            return None
        fingerprint = hashlib.sha256(key.key.encode()).hexdigest()
        cached = self._cache.get(fingerprint)
        if cached is not None:
            return cached
        if self._rejected.get(fingerprint):
            return None
        client = FlywheelClient(key, http=self._http)
        try:
            status = client.auth_status()
            projects = client.projects()
        except FlywheelError as exc:
            if exc.status in _REJECTED:
                self._rejected.put(fingerprint, True)
                return None
            raise FlywheelUnavailable(f"the Flywheel site could not check the key: {exc}") from None
        user = status.get("user_id") or (status.get("origin") or {}).get("id")
        if not user:
            self._rejected.put(fingerprint, True)
            return None  # a device or job key, not a person
        grant = Grant.of_projects(str(p["_id"]) for p in projects if p.get("_id"))
        caller = Caller(f"flywheel:{user}", grant)
        self._cache.put(fingerprint, caller)
        return caller

    def _key_for_site(self, api_key: str) -> ApiKey | None:
        """``host:key`` for this site, or a bare key (taken to be for this site)."""
        if ":" not in api_key:
            return ApiKey(self._site, api_key) if api_key else None
        try:
            parsed = parse_api_key(api_key)
        except ApiKeyError:
            return None
        return parsed if parsed.base_url == self._site else None
