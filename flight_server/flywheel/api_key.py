"""Flywheel API keys: ``host:key``, ``host:port:key``, with ``__force_insecure`` for http."""

from __future__ import annotations

from dataclasses import dataclass, field

_INSECURE = "__force_insecure"
# Keys of this length are bearer tokens; older keys use the scitran-user scheme.
_BEARER_KEY_LENGTH = 57


class ApiKeyError(ValueError):
    """An API key that does not name a site."""


@dataclass(frozen=True)
class ApiKey:
    """Where a key's site is and the header that proves it; the key never shows in repr."""

    base_url: str
    key: str = field(repr=False)

    @property
    def authorization(self) -> str:
        scheme = "Bearer" if len(self.key) == _BEARER_KEY_LENGTH else "scitran-user"
        return f"{scheme} {self.key}"


def parse_api_key(api_key: str) -> ApiKey:
    """Split an API key into its site URL and secret."""
    parts = api_key.strip().split(":")
    insecure = _INSECURE in parts
    parts = [p for p in parts if p != _INSECURE]
    if len(parts) < 2 or not all(parts):
        raise ApiKeyError("a Flywheel API key looks like host:key or host:port:key")
    host, key = parts[0], parts[-1]
    port = parts[1] if len(parts) == 3 else None
    if port is not None and not port.isdigit():
        raise ApiKeyError(f"invalid port {port!r} in API key")
    scheme = "http" if insecure else "https"
    return ApiKey(f"{scheme}://{host}{':' + port if port else ''}", key)
