"""Bearer tokens the server issues after a basic login: user and expiry, HMAC-signed.

Self-contained so any replica sharing the secret accepts them; they carry no
permissions, which are looked up on every call so a revoked grant takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

_MAGIC = "fwb1."


class BearerTokens:
    """Issues and verifies the server's own bearer tokens."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    @staticmethod
    def is_ours(token: str) -> bool:
        return token.startswith(_MAGIC)

    def issue(self, user: str) -> str:
        raw = json.dumps({"u": user, "x": int(time.time()) + self._ttl}).encode()
        return _MAGIC + _b64(raw) + "." + _b64(self._mac(raw))

    def user_of(self, token: str) -> str | None:
        """The user a valid, unexpired token was issued to; None for anything else."""
        if not self.is_ours(token):
            return None
        encoded_payload, _, encoded_mac = token[len(_MAGIC) :].partition(".")
        try:
            raw, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(raw)):
            return None
        payload = json.loads(raw)
        if payload["x"] < time.time():
            return None
        return str(payload["u"])

    def _mac(self, raw: bytes) -> bytes:
        return hmac.new(self._secret, b"bearer\0" + raw, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None
