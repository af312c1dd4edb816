"""Engine errors with a kind the protocol layer maps to a status code."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from enum import Enum

import duckdb

from flight_server.catalog.loading import Unreadable, UnreadableTable
from flight_server.storage.secrets import redact

log = logging.getLogger(__name__)


class ErrorKind(Enum):
    """What went wrong, from the caller's point of view."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    PERMISSION = "permission"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    RESOURCES = "resources"
    BUSY = "busy"
    #: A dataset's storage failed, timed out or refused the server: worth retrying later.
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class QueryError(Exception):
    """A query that could not be planned or run, with a message safe to show the caller."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_INVALID_INPUT = "Invalid Input Error:"

# Checked in order: the first matching DuckDB exception class decides the kind. Errors
# pulled through the Arrow reader arrive as Arrow exceptions instead, their message still
# starting with DuckDB's name for the class. ``storage``: whether the class can be a data
# file failing (the others are about the statement or the server, whatever their words).
_KINDS: tuple[tuple[type[BaseException], str, ErrorKind, bool], ...] = (
    (duckdb.CatalogException, "Catalog Error:", ErrorKind.NOT_FOUND, False),
    (duckdb.ParserException, "Parser Error:", ErrorKind.INVALID, False),
    (duckdb.BinderException, "Binder Error:", ErrorKind.INVALID, False),
    (duckdb.ConversionException, "Conversion Error:", ErrorKind.INVALID, False),
    (duckdb.InvalidInputException, _INVALID_INPUT, ErrorKind.INVALID, True),
    (duckdb.NotImplementedException, "Not implemented Error:", ErrorKind.INVALID, False),
    (duckdb.PermissionException, "Permission Error:", ErrorKind.PERMISSION, False),
    (duckdb.InterruptException, "INTERRUPT Error:", ErrorKind.CANCELLED, False),
    (duckdb.OutOfMemoryException, "Out of Memory Error:", ErrorKind.RESOURCES, False),
)

# A data file failing under a running query, by what its message says (DuckDB's own reader
# for local files; s3fs, gcsfs, adlfs and their HTTP clients, as Python tracebacks inside
# DuckDB's message, for remote ones). Checked in order; the first match decides. None of
# the message is passed on: it names paths, buckets and endpoints.
_FAULTS: tuple[tuple[ErrorKind, str, re.Pattern[str]], ...] = (
    (
        # The engine's file barrier (storage.routing), should SQL ever get past the guard.
        ErrorKind.PERMISSION,
        "reading files outside the served datasets is not allowed",
        re.compile(r"RoutingError"),
    ),
    (
        ErrorKind.UNAVAILABLE,
        "its storage refused the server's access",
        re.compile(
            r"AccessDenied|Access Denied|Forbidden|PermissionError|Permission denied|"
            r"InvalidAccessKeyId|"
            r"SignatureDoesNotMatch|ExpiredToken|InvalidToken|TokenRefreshRequired|"
            r"AuthenticationFailed|AuthorizationFailure|ClientAuthenticationError|"
            r"Unauthorized|invalid_grant|RefreshError|does not have storage\.objects"
        ),
    ),
    (
        ErrorKind.UNAVAILABLE,
        "its storage did not answer in time",
        re.compile(r"[Tt]imed? ?out|TimeoutError|ReadTimeout|ConnectTimeout"),
    ),
    (
        ErrorKind.UNAVAILABLE,
        "its storage could not be reached",
        re.compile(
            r"EndpointConnectionError|Could not connect|Connection refused|ConnectionRefused|"
            r"ConnectionResetError|Connection reset|ServerDisconnected|ClientConnectorError|"
            r"ClientOSError|ServiceRequestError|Name or service not known|"
            r"Temporary failure in name resolution"
        ),
    ),
    (
        ErrorKind.UNAVAILABLE,
        "its storage answered with a server error",
        re.compile(
            r"Internal Server Error|InternalError|[Ii]nternal error|ServiceUnavailable|"
            r"Service Unavailable|[Pp]lease try again|"
            r"SlowDown|Bad Gateway|Gateway Timeout|ServerBusy|ResponseStreamingError|"
            r"IncompleteRead|ClientPayloadError|ServiceResponseError|HTTP Error|"
            r"\b50[0-4] (?:Server|Internal|Service|Bad|Gateway)"
        ),
    ),
    (
        ErrorKind.NOT_FOUND,
        "a data file is gone since the catalog was last read; the next refresh reads the "
        "table again",
        re.compile(
            r"No files found that match|No such file or directory|FileNotFoundError|"
            r"NoSuchKey|specified key does not exist|BlobNotFound|No such object|"
            r"NotFoundError|404 Not Found"
        ),
    ),
    (
        ErrorKind.INTERNAL,
        "a data file is truncated or corrupt (changed since the catalog was last read); "
        "the next refresh checks it again",
        re.compile(
            r"No magic bytes|too small to be a Parquet file|bytes from Python file|"
            r"bytes returned|[Cc]orrupt|deserialize thrift|Invalid Parquet|Invalid footer"
        ),
    ),
)

# DuckDB's own I/O errors (as Arrow passes them on), and a Python exception raised inside
# a filesystem DuckDB called: some storage failure, even in words not listed above.
_IO_ERRORS = ("IO Error:", "HTTP Error:")
_TRACEBACK = "Traceback (most recent call last)"

# DuckDB suggests near-miss names from every catalog, including datasets the caller
# may not see ("Did you mean \"neuro.secret.sessions\"?"), so suggestions are dropped.
_SUGGESTION = re.compile(r"\n?Did you mean [^\n]*")


_UNREADABLE_KINDS = {
    Unreadable.GONE: ErrorKind.NOT_FOUND,
    Unreadable.UNAVAILABLE: ErrorKind.UNAVAILABLE,
    Unreadable.CORRUPT: ErrorKind.INTERNAL,
}


def unreadable(exc: UnreadableTable, table: str) -> QueryError:
    """A table whose footers could not be read at its first use, as its caller is told."""
    return QueryError(_UNREADABLE_KINDS[exc.why], f"cannot read {table}: {exc.reason}")


def classify(exc: BaseException, tables: Sequence[str] = ()) -> QueryError:
    """Turn a DuckDB (or Arrow reader) exception into a ``QueryError`` of the right kind.

    ``tables`` names the served tables the query reads: a storage fault is told as a
    failure to read them (never with the file's path, bucket, endpoint or credentials),
    with a status saying whether to retry (UNAVAILABLE), or what changed (NOT_FOUND for a
    vanished file, INTERNAL for a corrupt one).
    """
    message = str(exc)
    known = _known_kind(exc, message)
    fault = None if known and not known[1] else _storage_fault(exc, message)
    if fault is not None:
        kind, reason = fault
        subject = _subject(tables)
        log.warning("storage fault reading %s: %s", subject, redact(_summary(message)))
        return QueryError(kind, f"cannot read {subject}: {reason}")
    return QueryError(known[0] if known else ErrorKind.INTERNAL, _SUGGESTION.sub("", message))


def _known_kind(exc: BaseException, message: str) -> tuple[ErrorKind, bool] | None:
    """The kind of a DuckDB error by class (or, through Arrow, by message), and whether it
    may be a storage fault; None for a class not listed."""
    for exc_type, prefix, kind, storage in _KINDS:
        if isinstance(exc, exc_type) or (
            not isinstance(exc, duckdb.Error) and message.startswith(prefix)
        ):
            return kind, storage
    return None


def _storage_fault(exc: BaseException, message: str) -> tuple[ErrorKind, str] | None:
    """The kind and caller-facing reason of a storage fault, or None if it is not one.

    DuckDB tells a corrupt file as invalid input, like a bad argument (``error('...')``):
    only the corrupt-file words make it a storage fault.
    """
    invalid_input = isinstance(exc, duckdb.InvalidInputException) or message.startswith(
        _INVALID_INPUT
    )
    for kind, reason, pattern in _FAULTS[-1:] if invalid_input else _FAULTS:
        if pattern.search(message):
            return kind, reason
    if invalid_input:
        return None
    if (
        isinstance(exc, duckdb.IOException | OSError)
        or message.startswith(_IO_ERRORS)
        or _TRACEBACK in message
    ):
        return ErrorKind.UNAVAILABLE, "its storage failed"
    return None


def _summary(message: str) -> str:
    """One line for the server's log: a traceback's last line says what failed."""
    lines = [line.strip() for line in message.splitlines() if line.strip()] or [""]
    return lines[-1] if _TRACEBACK in message else lines[0]


def _subject(tables: Sequence[str]) -> str:
    if not tables:
        return "a dataset's files"
    if len(tables) == 1:
        return tables[0]
    return f"one of {', '.join(tables)}"
