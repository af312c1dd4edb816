"""Mapping our errors to Flight status codes, in one place: what we raise and what is sent.

``WIRE_STATUS`` is the gRPC status a pyarrow server actually sends for each exception a
handler or middleware raises (checked on the wire by tests/e2e/test_audit_log.py); the call
metrics and logs read their status from it, so they report what the client received.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import ErrorKind, QueryError
from flight_server.flightsql.tickets import TicketError

_Result = TypeVar("_Result")

#: Exception classes, checked in order, and the gRPC status pyarrow sends for each.
WIRE_STATUS: tuple[tuple[type[BaseException], str], ...] = (
    (flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (flight.FlightCancelledError, "CANCELLED"),
    (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
    (flight.FlightUnavailableError, "UNAVAILABLE"),
    (flight.FlightInternalError, "INTERNAL"),
    (ValueError, "INVALID_ARGUMENT"),  # pa.ArrowInvalid among them
    (OverflowError, "INVALID_ARGUMENT"),
    (KeyError, "NOT_FOUND"),  # pa.ArrowKeyError among them
    (NotImplementedError, "UNIMPLEMENTED"),  # pa.ArrowNotImplementedError among them
)
#: Everything else: MemoryError, FlightServerError, any other Python exception.
#: pyarrow cannot send RESOURCE_EXHAUSTED at all.
OTHER_STATUS = "UNKNOWN"


# pyarrow cannot send NOT_FOUND or INVALID_ARGUMENT without a "detail": after the message it
# appends ``. Detail: Python exception: `` and ``traceback.format_exception`` of the raised
# exception, which repeats the whole message (gRPC has one message field). For a SyntaxError
# subclass, ``traceback`` prints the ``msg`` attribute instead of ``str()``: the classes below
# use that so clients read the message once, then only the status in words
# (``... did you mean local.proj1.sessions?. Detail: Python exception: NotFound: not found``).
# Named after their status and shown without a module, they also keep library class paths
# (``pyarrow.lib.ArrowKeyError``) out of what clients read. The wire status still follows
# the other base (KeyError: NOT_FOUND, ValueError: INVALID_ARGUMENT, ...).


class _SaidOnce(SyntaxError):
    """An error whose message ``str()`` gives in full and ``traceback`` as ``msg`` only."""

    __module__ = "builtins"
    #: What pyarrow's detail part says after the class name.
    summary = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.msg = self.summary

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidArgument(_SaidOnce, pa.ArrowInvalid):
    """Sent as INVALID_ARGUMENT."""

    __module__ = "builtins"
    summary = "invalid argument"


class NotFound(_SaidOnce, pa.ArrowKeyError):
    """Sent as NOT_FOUND."""

    __module__ = "builtins"
    summary = "not found"


class Unimplemented(_SaidOnce, pa.ArrowNotImplementedError):
    """Sent as UNIMPLEMENTED."""

    __module__ = "builtins"
    summary = "not implemented"


class ResourceExhausted(_SaidOnce, MemoryError):
    """Sent as UNKNOWN: pyarrow servers cannot send RESOURCE_EXHAUSTED."""

    __module__ = "builtins"
    summary = "resource exhausted"


#: What each kind of query error is raised as; its wire status follows from WIRE_STATUS.
_RAISED_AS: dict[ErrorKind, Callable[[str], Exception]] = {
    ErrorKind.INVALID: InvalidArgument,
    ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.PERMISSION: flight.FlightUnauthorizedError,
    ErrorKind.CANCELLED: flight.FlightCancelledError,
    ErrorKind.TIMEOUT: flight.FlightTimedOutError,
    # The status clients retry (RESOURCE_EXHAUSTED cannot be sent).
    ErrorKind.BUSY: flight.FlightUnavailableError,
    # A dataset's storage failed or refused the server: retrying later may succeed.
    ErrorKind.UNAVAILABLE: flight.FlightUnavailableError,
    # Arrives as UNKNOWN, with the message saying what ran out.
    ErrorKind.RESOURCES: ResourceExhausted,
    ErrorKind.INTERNAL: flight.FlightInternalError,
}


def wire_status(error: BaseException | None) -> str:
    """The gRPC status name a call that raised ``error`` (None: returned) ends with."""
    if error is None:
        return "OK"
    for kind, name in WIRE_STATUS:
        if isinstance(error, kind):
            return name
    return OTHER_STATUS


def to_flight_error(exc: QueryError) -> Exception:
    """The exception pyarrow turns into the gRPC status that matches ``exc.kind``."""
    return _RAISED_AS.get(exc.kind, flight.FlightInternalError)(exc.message)


def flight_errors(handler: Callable[..., _Result]) -> Callable[..., _Result]:
    """Translate engine and ticket errors raised by an RPC handler into Flight errors."""

    @functools.wraps(handler)
    def wrapped(*args: object, **kwargs: object) -> _Result:
        try:
            return handler(*args, **kwargs)
        except QueryError as exc:
            raise to_flight_error(exc) from None
        except TicketError as exc:
            raise InvalidArgument(f"invalid ticket: {exc}") from None
        except _SaidOnce:
            raise
        except pa.ArrowKeyError as exc:  # raised by protocol code and pyarrow itself
            raise NotFound(str(exc)) from None
        except pa.ArrowInvalid as exc:
            raise InvalidArgument(str(exc)) from None
        except pa.ArrowNotImplementedError as exc:
            raise Unimplemented(str(exc)) from None

    return wrapped
