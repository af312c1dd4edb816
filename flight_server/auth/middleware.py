"""Authentication as Flight server middleware: every call, the Handshake included.

Flight SQL drivers (the Go ADBC driver, the Java JDBC driver) send ``authorization:
Basic ...`` on a Handshake call with no messages and take the bearer token from the
``authorization`` header of the reply, then send ``authorization: Bearer ...`` on every
call. Doing this in middleware rather than a ``ServerAuthHandler`` means a token or a
basic login on any call works too; ``HandshakeAccepter`` only lets the Handshake RPC
itself succeed.
"""

from __future__ import annotations

import pyarrow.flight as flight

from flight_server.auth.authenticator import Authenticator, AuthError, AuthUnavailable
from flight_server.auth.identity import Caller

#: The key to pass the factory under in ``FlightServerBase(middleware={...})``.
AUTH_MIDDLEWARE = "auth"


class AuthMiddleware(flight.ServerMiddleware):
    """The authenticated caller of one call, and the token to hand back, if any."""

    def __init__(self, caller: Caller, authorization: str | None) -> None:
        self.caller = caller
        self._authorization = authorization

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": self._authorization} if self._authorization else {}


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Authenticates each call from its ``authorization`` header before any handler runs."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    def start_call(self, info: flight.CallInfo, headers: dict[str, list]) -> AuthMiddleware:
        values = headers.get("authorization") or []
        header = values[0] if values and isinstance(values[0], str) else None
        try:
            caller, reply = self._authenticator.authenticate(header)
        except AuthError as exc:
            raise flight.FlightUnauthenticatedError(str(exc)) from None
        except AuthUnavailable as exc:
            raise flight.FlightUnavailableError(str(exc)) from None
        return AuthMiddleware(caller, reply)


class HandshakeAccepter(flight.ServerAuthHandler):
    """Answers the Handshake RPC (without a handler pyarrow replies UNIMPLEMENTED)."""

    def authenticate(
        self, outgoing: flight.ServerAuthSender, incoming: flight.ServerAuthReader
    ) -> None:
        """Nothing to exchange: the middleware already checked the call's headers."""

    def is_valid(self, token: bytes) -> bytes:
        return b""


def caller_of(context: flight.ServerCallContext) -> Caller | None:
    """The caller the middleware authenticated; None when the server runs without it."""
    middleware = context.get_middleware(AUTH_MIDDLEWARE)
    return middleware.caller if isinstance(middleware, AuthMiddleware) else None
