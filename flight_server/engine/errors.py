"""Engine errors with a kind the protocol layer maps to a status code."""

from __future__ import annotations

import re
from enum import Enum

import duckdb


class ErrorKind(Enum):
    """What went wrong, from the caller's point of view."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    PERMISSION = "permission"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    RESOURCES = "resources"
    BUSY = "busy"
    INTERNAL = "internal"


class QueryError(Exception):
    """A query that could not be planned or run, with a message safe to show the caller."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# Checked in order: the first matching DuckDB exception class decides the kind.
_KINDS: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (duckdb.CatalogException, ErrorKind.NOT_FOUND),
    (duckdb.ParserException, ErrorKind.INVALID),
    (duckdb.BinderException, ErrorKind.INVALID),
    (duckdb.ConversionException, ErrorKind.INVALID),
    (duckdb.InvalidInputException, ErrorKind.INVALID),
    (duckdb.NotImplementedException, ErrorKind.INVALID),
    (duckdb.PermissionException, ErrorKind.PERMISSION),
    (duckdb.InterruptException, ErrorKind.CANCELLED),
    (duckdb.OutOfMemoryException, ErrorKind.RESOURCES),
)


# DuckDB suggests near-miss names from every catalog, including datasets the caller
# may not see ("Did you mean \"neuro.secret.sessions\"?"), so suggestions are dropped.
_SUGGESTION = re.compile(r"\n?Did you mean [^\n]*")


def classify(exc: duckdb.Error) -> QueryError:
    """Turn a DuckDB exception into a ``QueryError`` of the right kind."""
    message = _SUGGESTION.sub("", str(exc))
    for exc_type, kind in _KINDS:
        if isinstance(exc, exc_type):
            return QueryError(kind, message)
    return QueryError(ErrorKind.INTERNAL, message)
