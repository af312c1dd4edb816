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


def parquet_scan(paths: Iterable[str], hive_partitioned: bool, union_by_name: bool = True) -> str:
    """The ``read_parquet`` call for some files, unioning their columns by name by default.

    ``union_by_name`` opens every file's footer when the query is bound; leave it off for
    files known to share one schema, so filters on partition columns skip files unopened.
    """
    listed = ", ".join(quote_literal(p) for p in paths)
    hive = "true" if hive_partitioned else "false"
    union = "true" if union_by_name else "false"
    return f"read_parquet([{listed}], union_by_name = {union}, hive_partitioning = {hive})"


def grouped_scan(groups: Iterable[Iterable[str]], hive_partitioned: bool) -> str:
    """A SELECT over groups of same-schema files, unioned by column name across groups."""
    return " UNION ALL BY NAME ".join(
        f"SELECT * FROM {parquet_scan(group, hive_partitioned, union_by_name=False)}"
        for group in groups
    )
