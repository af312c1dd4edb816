"""One-line messages for operators and command-line users: no tracebacks, no quoted input."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def first_line(exc: BaseException) -> str:
    """An exception's message without its multi-line context (which may quote file contents)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def fail(message: str, code: int = 1) -> NoReturn:
    """One readable line on stderr and a non-zero exit."""
    click.echo(f"fw-flight-sql: {message}", err=True)
    sys.exit(code)
