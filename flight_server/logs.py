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


class _PlainFormatter(logging.Formatter):
    """Human-readable lines with full tracebacks."""

    def formatException(self, ei: tuple) -> str:
        return _format_exception(ei)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra`` fields the caller attached."""

    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
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
