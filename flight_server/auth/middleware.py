"""Authentication as Flight server middleware: every call, the Handshake included.

Flight SQL drivers (the Go ADBC driver, the Java JDBC driver) send ``authorization:
Basic ...`` on a Handshake call with no messages and take the bearer token from the
``authorization`` header of the reply, then send ``authorization: Bearer ...`` on every
call. Doing this in middleware rather than a ``ServerAuthHandler`` means a token or a
basic login on any call works too; ``HandshakeAccepter`` only lets the Handshake RPC
itself succeed.

The caller of each call is also kept under the id of the thread serving it, for code
that has no call context (the query log): pyarrow runs a call's middleware and handler
on one OS thread, with no per-call state the two share.
"""

from __future__ import annotations

import threading

import pyarrow.flight as flight

from flight_server.auth.authenticator import Authenticator, AuthError, AuthUnavailable
from flight_server.auth.identity import Caller

#: The key to pass the factory under in ``FlightServerBase(middleware={...})``.
AUTH_MIDDLEWARE = "auth"

# Thread id -> the caller of the call that thread serves. Kept until the thread's next
# call replaces it (or is refused, which clears it), so it holds through every other
# middleware's call_completed whatever their order; at most one entry per server thread.
_admitted: dict[int, Caller] = {}


def admitted_caller(thread: int | None = None) -> Caller | None:
    """The caller of the call ``thread`` (default: this one) serves; None if none was let in."""
    return _admitted.get(threading.get_ident() if thread is None else thread)


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
        thread = threading.get_ident()
        _admitted.pop(thread, None)
        header = _first(headers, "authorization")
        address = _client_address(headers, self._authenticator.address_header)
        try:
            caller, reply = self._authenticator.authenticate(header, address=address)
        except AuthError as exc:
            raise flight.FlightUnauthenticatedError(str(exc)) from None
        except AuthUnavailable as exc:
            raise flight.FlightUnavailableError(str(exc)) from None
        _admitted[thread] = caller
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


def _first(headers: dict[str, list], name: str) -> str | None:
    values = headers.get(name) or []
    return values[0] if values and isinstance(values[0], str) else None


def _client_address(headers: dict[str, list], header: str | None) -> str | None:
    """The client address a trusted proxy put in ``header``: the last entry, the one the
    proxy in front of us added (earlier ones are whatever the client sent)."""
    values = headers.get(header) if header else None
    if not values or not isinstance(values[-1], str):
        return None
    address = values[-1].rpartition(",")[2].strip()
    return address[:100] or None
