"""Mapping our errors to Flight status codes, in one place."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import ErrorKind, QueryError
from flight_server.flightsql.tickets import TicketError

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")


def to_flight_error(exc: QueryError) -> Exception:
    """The exception pyarrow turns into the gRPC status that matches ``exc.kind``."""
    match exc.kind:
        case ErrorKind.INVALID:
            return pa.ArrowInvalid(exc.message)  # INVALID_ARGUMENT
        case ErrorKind.NOT_FOUND:
            return pa.ArrowKeyError(exc.message)  # NOT_FOUND
        case ErrorKind.PERMISSION:
            return flight.FlightUnauthorizedError(exc.message)  # PERMISSION_DENIED
        case ErrorKind.CANCELLED:
            return flight.FlightCancelledError(exc.message)  # CANCELLED
        case ErrorKind.TIMEOUT:
            return flight.FlightTimedOutError(exc.message)  # DEADLINE_EXCEEDED
        case ErrorKind.BUSY:
            # The status clients retry; pyarrow cannot send RESOURCE_EXHAUSTED.
            return flight.FlightUnavailableError(exc.message)  # UNAVAILABLE
        case ErrorKind.RESOURCES:
            # pyarrow servers cannot send RESOURCE_EXHAUSTED: this arrives as UNKNOWN.
            return MemoryError(exc.message)
    return flight.FlightInternalError(exc.message)


def flight_errors(handler: Callable[..., _Result]) -> Callable[..., _Result]:
    """Translate engine and ticket errors raised by an RPC handler into Flight errors."""

    @functools.wraps(handler)
    def wrapped(*args: object, **kwargs: object) -> _Result:
        try:
            return handler(*args, **kwargs)
        except QueryError as exc:
            raise to_flight_error(exc) from None
        except TicketError as exc:
            raise pa.ArrowInvalid(f"invalid ticket: {exc}") from None

    return wrapped
