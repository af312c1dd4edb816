"""Logging set-up: plain lines for a terminal, JSON lines for log collectors."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime

# Explicit, because the server sets sys.tracebacklimit to 0 for client-visible errors.
_TRACEBACK_LIMIT = 64


def _format_exception(exc_info: tuple) -> str:
    return "".join(traceback.format_exception(*exc_info, limit=_TRACEBACK_LIMIT)).rstrip()


# Attributes every record has; anything else came from a caller's ``extra``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class _PlainFormatter(logging.Formatter):
    """Human-readable lines, ``extra`` fields as ``key=value``, full tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # keep fields on the message's own line
        return f"{head} {fields}{newline}{rest}"

    def formatException(self, ei: tuple) -> str:
        return _format_exception(ei)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra`` fields the caller attached."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = _format_exception(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str, level: str) -> None:
    """Route all logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
