"""Tickets and prepared-statement handles: signed tokens bound to the caller they were issued to.

A token carries everything needed to serve it (so any replica can), the caller and an
expiry (see ``flight_server.signing``). Clients treat it as opaque bytes.
"""

from __future__ import annotations

from typing import Any

from flight_server.signing import SignatureError, SignedTokens


class TicketError(ValueError):
    """A token that is malformed, forged, expired or presented by someone else."""


class TicketSigner:
    """Issues and opens signed tokens with one secret shared by all replicas."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._tokens = SignedTokens(secret, magic=b"fwt1.", domain=b"ticket")
        self._ttl = ttl_seconds

    def issue(self, kind: str, body: dict[str, Any], caller: str | None) -> bytes:
        """Sign ``body`` as a token of ``kind`` for ``caller``."""
        return self._tokens.seal({"k": kind, "b": body, "u": caller}, self._ttl)

    def open(self, token: bytes, caller: str | None) -> tuple[str, dict[str, Any]]:
        """Verify a token presented by ``caller`` and return its kind and body."""
        try:
            payload = self._tokens.open(token)
        except SignatureError as exc:
            raise TicketError(f"ticket {exc}") from None
        if payload["u"] != caller:
            raise TicketError("ticket was issued to another caller")
        return payload["k"], payload["b"]
