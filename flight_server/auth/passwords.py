"""Password hashes for configured users: scrypt with a random salt, never plain text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import Counter

_SCHEME = "scrypt"
# Interactive-login strength (RFC 7914 suggests N=2^14, r=8, p=1); about 16 MiB per check.
_N, _R, _P = 2**14, 8, 1
_LENGTH = 32


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """An encoded hash to put in configuration: ``scrypt$n$r$p$salt$digest``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return "$".join((_SCHEME, str(n), str(r), str(p), _b64(salt), _b64(digest)))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def decoy_hash(like: list[str]) -> str:
    """A hash no password matches, as costly to check as most of ``like``.

    Checked for user names nobody configured, so an unknown name costs the same scrypt as
    a known one and answer times do not tell them apart.
    """
    common = Counter(p for encoded in like if (p := _parameters(encoded))).most_common(1)
    n, r, p = common[0][0] if common else (_N, _R, _P)
    try:
        return hash_password(secrets.token_urlsafe(32), n=n, r=r, p=p)
    except ValueError:  # parameters scrypt refuses: those hashes never match either
        return hash_password(secrets.token_urlsafe(32))


def _parameters(encoded: str) -> tuple[int, int, int] | None:
    parts = encoded.split("$")
    try:
        return (int(parts[1]), int(parts[2]), int(parts[3])) if parts[0] == _SCHEME else None
    except (IndexError, ValueError):
        return None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=_LENGTH
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


if __name__ == "__main__":
    import getpass

    print(hash_password(getpass.getpass("password: ")))
