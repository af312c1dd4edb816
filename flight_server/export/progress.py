"""A one-line progress display on stderr (no third-party progress library is required)."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Rows written per table: redrawn in place on a terminal, one line per table otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()

    def update(self, table: str, rows: int, files: int) -> None:
        if self._live:
            self._stream.write(f"\r  {table}: {rows:,} rows, {files} file(s)")
            self._stream.flush()

    def done(self, table: str, rows: int, files: int) -> None:
        end = "\r" if self._live else ""
        self._stream.write(f"{end}  {table}: {rows:,} rows, {files} file(s) written\n")
        self._stream.flush()
