"""Bearer tokens the server issues after a basic login: user and expiry, HMAC-signed.

Self-contained so any replica sharing the secret accepts them; they carry no
permissions, which are looked up on every call so a revoked grant takes effect at once.
"""

from __future__ import annotations

from flight_server.signing import SignatureError, SignedTokens


class BearerTokens:
    """Issues and verifies the server's own bearer tokens."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._tokens = SignedTokens(secret, magic=b"fwb1.", domain=b"bearer")
        self._ttl = ttl_seconds

    def is_ours(self, token: str) -> bool:
        return self._tokens.is_ours(token.encode())

    def issue(self, user: str) -> str:
        return self._tokens.seal({"u": user}, self._ttl).decode()

    def user_of(self, token: str) -> str | None:
        """The user a valid, unexpired token was issued to; None for anything else."""
        try:
            return str(self._tokens.open(token.encode())["u"])
        except (SignatureError, UnicodeEncodeError):
            return None
