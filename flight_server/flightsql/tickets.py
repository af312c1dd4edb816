"""Self-contained signed tokens for tickets and prepared-statement handles.

A token carries everything needed to serve it (so any replica can), the caller it
was issued to and an expiry; an HMAC makes it tamper-evident. Clients treat it as
opaque bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

_MAGIC = b"fwt1."


class TicketError(ValueError):
    """A token that is malformed, forged, expired or presented by someone else."""


class TicketSigner:
    """Issues and opens signed tokens with one secret shared by all replicas."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue(self, kind: str, body: dict[str, Any], caller: str | None) -> bytes:
        """Sign ``body`` as a token of ``kind`` for ``caller``."""
        payload = {"k": kind, "b": body, "u": caller, "x": int(time.time()) + self._ttl}
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return _MAGIC + _b64(raw) + b"." + _b64(self._mac(raw))

    def open(self, token: bytes, caller: str | None) -> tuple[str, dict[str, Any]]:
        """Verify a token presented by ``caller`` and return its kind and body."""
        if not token.startswith(_MAGIC):
            raise TicketError("not a ticket issued by this server")
        encoded_payload, _, encoded_mac = token[len(_MAGIC) :].partition(b".")
        try:
            raw, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except ValueError:
            raise TicketError("malformed ticket") from None
        if not hmac.compare_digest(mac, self._mac(raw)):
            raise TicketError("ticket signature does not match")
        payload = json.loads(raw)
        if payload["u"] != caller:
            raise TicketError("ticket was issued to another caller")
        if payload["x"] < time.time():
            raise TicketError("ticket has expired")
        return payload["k"], payload["b"]

    def _mac(self, raw: bytes) -> bytes:
        return hmac.new(self._secret, raw, hashlib.sha256).digest()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None
