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


#: Beyond this many schema groups a table is read as one scan that unions its files by
#: name. A union of G groups binds G x columns projections and starts every branch before a
#: LIMIT stops them: 1,000 files in 200 groups took 3.7 s for ``LIMIT 10`` as a union and
#: 0.09 s as one scan, while up to about 32 groups the union is as fast or faster and keeps
#: filters on partition columns from opening files (DuckDB 2.0, 2 cores; the site-scale
#: benchmark, ``python -m benchmarks --only site_scale``, prints the 200-group ratio).
MAX_UNION_GROUPS = 32


def grouped_scan(groups: Iterable[Iterable[str]], hive_partitioned: bool) -> str:
    """A SELECT over groups of same-schema files, unioned by column name across groups."""
    listed = [tuple(group) for group in groups]
    if len(listed) > MAX_UNION_GROUPS:
        every_file = [path for group in listed for path in group]
        return f"SELECT * FROM {parquet_scan(every_file, hive_partitioned)}"
    return " UNION ALL BY NAME ".join(
        f"SELECT * FROM {parquet_scan(group, hive_partitioned, union_by_name=False)}"
        for group in listed
    )
