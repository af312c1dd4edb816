"""Quoting for the identifiers and literals the engine writes into DuckDB DDL."""

from __future__ import annotations

from collections.abc import Iterable


def quote_ident(name: str) -> str:
    """Quote an identifier so any name (dots, ``@``, quotes) survives as written."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal."""
    return "'" + value.replace("'", "''") + "'"


def qualified(*parts: str) -> str:
    """A dotted, fully quoted name such as ``"neuro"."proj1"."sessions"``."""
    return ".".join(quote_ident(p) for p in parts)


def parquet_scan(paths: Iterable[str], hive_partitioned: bool) -> str:
    """The ``read_parquet`` call for a table's files, unioning columns by name."""
    listed = ", ".join(quote_literal(p) for p in paths)
    hive = "true" if hive_partitioned else "false"
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = {hive})"
