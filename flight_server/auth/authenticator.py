"""Deciding who a call's ``authorization`` header belongs to, whatever the scheme."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from flight_server.auth.flywheel import FlywheelKeys, FlywheelUnavailable
from flight_server.auth.identity import Caller, Grant
from flight_server.auth.passwords import verify_password
from flight_server.auth.tokens import BearerTokens


class AuthError(Exception):
    """Missing, malformed, wrong or expired credentials (UNAUTHENTICATED)."""


class AuthUnavailable(Exception):
    """Credentials that cannot be checked right now (UNAVAILABLE)."""


@dataclass(frozen=True)
class Credentials:
    """A configured user: a password hash (see ``passwords``) and the datasets they may see."""

    password_hash: str
    grant: Grant


class Authenticator:
    """Basic logins, the server's bearer tokens, static tokens, Flywheel keys, anonymous.

    A basic login for a configured user answers with a fresh bearer token of ours; a
    Flywheel key sent as a password answers with the key itself as the bearer, since the
    site, not this server, is the authority on it.
    """

    def __init__(
        self,
        tokens: BearerTokens,
        *,
        users: Mapping[str, Credentials] | None = None,
        static_tokens: Mapping[str, Caller] | None = None,
        flywheel: FlywheelKeys | None = None,
        anonymous: Caller | None = None,
    ) -> None:
        self._tokens = tokens
        self._users = dict(users or {})
        self._static = {_digest(token): caller for token, caller in (static_tokens or {}).items()}
        self._flywheel = flywheel
        self._anonymous = anonymous

    def authenticate(self, authorization: str | None) -> tuple[Caller, str | None]:
        """The caller, and the ``authorization`` header to send back (None: send nothing)."""
        if not authorization:
            if self._anonymous is not None:
                return self._anonymous, None
            raise AuthError("authentication required")
        scheme, _, value = authorization.strip().partition(" ")
        match scheme.casefold():
            case "basic":
                return self._basic(value.strip())
            case "bearer":
                return self._bearer(value.strip()), None
        raise AuthError(f"unsupported authorization scheme {scheme[:20]!r}")

    def _basic(self, encoded: str) -> tuple[Caller, str]:
        try:  # Go clients send unpadded base64
            decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            user, _, password = decoded.decode().partition(":")
        except (binascii.Error, ValueError):
            raise AuthError("malformed basic credentials") from None
        credentials = self._users.get(user)
        if credentials is not None:
            if verify_password(password, credentials.password_hash):
                return Caller(user, credentials.grant), f"Bearer {self._tokens.issue(user)}"
        elif (caller := self._flywheel_caller(password)) is not None:
            return caller, f"Bearer {password}"
        raise AuthError("invalid user name or password")

    def _bearer(self, token: str) -> Caller:
        if self._tokens.is_ours(token):
            user = self._tokens.user_of(token)
            credentials = self._users.get(user) if user is not None else None
            if user is None or credentials is None:
                raise AuthError("invalid or expired token")
            return Caller(user, credentials.grant)
        caller = self._static.get(_digest(token)) or self._flywheel_caller(token)
        if caller is None:
            raise AuthError("invalid or expired token")
        return caller

    def _flywheel_caller(self, api_key: str) -> Caller | None:
        if self._flywheel is None:
            return None
        try:
            return self._flywheel.caller_for(api_key)
        except FlywheelUnavailable as exc:
            raise AuthUnavailable(str(exc)) from None


def _digest(token: str) -> bytes:
    # Looked up by digest so the lookup's timing says nothing about the configured tokens.
    return hashlib.sha256(token.encode()).digest()
