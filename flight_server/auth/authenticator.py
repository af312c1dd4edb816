"""Deciding who a call's ``authorization`` header belongs to, whatever the scheme."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from flight_server.auth.flywheel import FlywheelKeys, FlywheelUnavailable
from flight_server.auth.identity import Caller, Grant
from flight_server.auth.passwords import decoy_hash, verify_password
from flight_server.auth.throttle import BackedOff, ChecksBusy, LoginThrottle
from flight_server.auth.tokens import BearerTokens
from flight_server.config import AuthSettings


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

    Every basic login of a name runs one scrypt check (against a decoy hash for names
    nobody configured) under ``throttle`` (default: the default settings'): its backoff
    after failures and its bound on checks at once. Bearer tokens are not throttled:
    they cost no scrypt and cannot be guessed.
    """

    def __init__(
        self,
        tokens: BearerTokens,
        *,
        users: Mapping[str, Credentials] | None = None,
        static_tokens: Mapping[str, Caller] | None = None,
        flywheel: FlywheelKeys | None = None,
        anonymous: Caller | None = None,
        throttle: LoginThrottle | None = None,
        address_header: str | None = None,
    ) -> None:
        self._tokens = tokens
        self._users = dict(users or {})
        self._static = {_digest(token): caller for token, caller in (static_tokens or {}).items()}
        self._flywheel = flywheel
        self._anonymous = anonymous
        self._throttle = throttle or LoginThrottle.from_settings(AuthSettings())
        # Checked for names nobody configured: no password matches it, and it costs what
        # the configured users' hashes cost.
        self._decoy = decoy_hash([c.password_hash for c in self._users.values()])
        #: The header a trusted proxy puts the client's address in (None: address unknown).
        self.address_header = address_header.lower() if address_header else None

    def authenticate(
        self, authorization: str | None, *, address: str | None = None
    ) -> tuple[Caller, str | None]:
        """The caller, and the ``authorization`` header to send back (None: send nothing).

        ``address`` is the client's, when known, for the per-address login backoff.
        """
        if not authorization:
            if self._anonymous is not None:
                return self._anonymous, None
            raise AuthError("authentication required")
        scheme, _, value = authorization.strip().partition(" ")
        match scheme.casefold():
            case "basic":
                return self._basic(value.strip(), address)
            case "bearer":
                return self._bearer(value.strip()), None
        raise AuthError(f"unsupported authorization scheme {scheme[:20]!r}")

    def _basic(self, encoded: str, address: str | None) -> tuple[Caller, str]:
        try:  # Go clients send unpadded base64
            decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            user, _, password = decoded.decode().partition(":")
        except (binascii.Error, ValueError):
            raise AuthError("malformed basic credentials") from None
        credentials = self._users.get(user)
        # With Flywheel keys accepted, a name nobody configured is a key login: the key, not
        # the name, says who it is, and callers share names such as "flywheel", so one
        # caller's bad keys must not back the others off; the site's answer time tells
        # such names apart anyway, so no decoy check either. Any other name is checked
        # and backs off alike, configured or not.
        key_login = credentials is None and self._flywheel is not None
        name = None if key_login else user
        try:
            self._throttle.check(name, address)
            if key_login:
                if (caller := self._flywheel_caller(password)) is not None:
                    return caller, f"Bearer {password}"
                self._throttle.failed(None, address)
            else:
                encoded = credentials.password_hash if credentials is not None else self._decoy
                with self._throttle.password_check(name, address):
                    if verify_password(password, encoded) and credentials is not None:
                        self._throttle.succeeded(user)
                        return Caller(user, credentials.grant), f"Bearer {self._tokens.issue(user)}"
                    # Counted before the slot frees, so logins queued behind this one see it.
                    self._throttle.failed(name, address)
        except BackedOff as exc:
            raise AuthError(str(exc)) from None
        except ChecksBusy as exc:
            raise AuthUnavailable(str(exc)) from None
        raise AuthError("invalid user name or password")

    def _bearer(self, token: str) -> Caller:
        if self._tokens.is_ours(token):
            user = self._tokens.user_of(token)
            credentials = self._users.get(user) if user is not None else None
            if user is None or credentials is None:
                raise AuthError("invalid or expired token")
            return Caller(user, credentials.grant)
        caller = self._static.get(_digest(token)) or self._flywheel_caller(token)
        if caller is not None:
            return caller
        if self._anonymous is not None:
            # Some clients always send a bearer (flightsql-dbapi sends "Bearer None" when
            # given no token): one that is none of ours calls anonymously, as no header
            # would. Our own tokens, expired or altered, were refused above.
            return self._anonymous
        raise AuthError("invalid or expired token")

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
