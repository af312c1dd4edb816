"""Self-contained signed tokens: a JSON payload, an expiry and an HMAC, as opaque bytes.

Tickets, prepared-statement handles and the server's bearer tokens are all of this form,
so any replica sharing the secret accepts them and nothing is stored server-side. Each
use has its own ``domain`` in the MAC, so a token of one kind never verifies as another.

A token is opened at every RPC that carries it (a prepared statement's handle at
GetFlightInfo and again at ClosePreparedStatement, a bearer token at every call), and on
a core gone cold its base64 and MAC cost about 60 µs each time. So the exact bytes of
tokens made or verified here are remembered with their payload: presenting them again
skips the MAC, never the expiry. Any other bytes, however close, are verified in full.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from flight_server.lru import LruCache

#: Tokens remembered per domain, and the largest remembered (a ticket carries its SQL):
#: at most about 7 MiB of tokens and payloads per domain.
_REMEMBERED = 1024
_MAX_REMEMBERED_BYTES = 4096


class SignatureError(ValueError):
    """A token that is not ours, is malformed, was altered or has expired."""


class SignedTokens:
    """Seals and opens tokens for one domain with one secret."""

    def __init__(self, secret: bytes, magic: bytes, domain: bytes) -> None:
        self._secret = secret
        self._magic = magic
        self._domain = domain + b"\0"
        # Token bytes -> the JSON payload they carry (expiry included), already verified.
        self._verified: LruCache[bytes, bytes] = LruCache(_REMEMBERED)

    def is_ours(self, token: bytes) -> bool:
        return token.startswith(self._magic)

    def seal(self, payload: dict[str, Any], ttl_seconds: int) -> bytes:
        """Sign ``payload`` with an expiry ``ttl_seconds`` from now."""
        sealed = {**payload, "x": int(time.time()) + ttl_seconds}
        raw = json.dumps(sealed, separators=(",", ":"), sort_keys=True).encode()
        token = self._magic + _b64(raw) + b"." + _b64(self._mac(raw))
        self._remember(token, raw)
        return token

    def open(self, token: bytes) -> dict[str, Any]:
        """The payload of a valid, unexpired token (its expiry removed), a new dict each time."""
        raw = self._verified.get(token)
        if raw is None:
            raw = self._verify(token)
            self._remember(token, raw)
        payload = json.loads(raw)
        if payload.pop("x") < time.time():
            raise SignatureError("expired")
        return payload

    def _verify(self, token: bytes) -> bytes:
        """The JSON payload of a token of ours whose MAC matches."""
        if not self.is_ours(token):
            raise SignatureError("not issued by this server")
        encoded_payload, _, encoded_mac = token[len(self._magic) :].partition(b".")
        try:
            raw, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except (ValueError, TypeError):
            raise SignatureError("malformed") from None
        if not hmac.compare_digest(mac, self._mac(raw)):
            raise SignatureError("signature does not match")
        return raw

    def _remember(self, token: bytes, raw: bytes) -> None:
        if len(token) <= _MAX_REMEMBERED_BYTES:
            self._verified.put(token, raw)

    def _mac(self, raw: bytes) -> bytes:
        return hmac.digest(self._secret, self._domain + raw, hashlib.sha256)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
