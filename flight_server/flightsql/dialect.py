"""What DuckDB's SQL dialect offers, read from DuckDB itself for the SqlInfo answers.

Each probe opens a private in-memory DuckDB, runs once on first use and is
cached for the life of the process, so answers track the installed DuckDB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

import duckdb

from flight_server.flightsql import flight_sql_pb2 as pb


@contextmanager
def _fresh_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    try:
        yield con
    finally:
        con.close()


@cache
def keywords() -> tuple[str, ...]:
    """Every keyword DuckDB's parser knows, upper-cased and sorted."""
    with _fresh_connection() as con:
        rows = con.execute("SELECT DISTINCT upper(keyword_name) FROM duckdb_keywords()").fetchall()
    return tuple(sorted(name for (name,) in rows))


@dataclass(frozen=True)
class FunctionLists:
    """Built-in function names grouped the way ODBC/JDBC metadata asks for them."""

    numeric: tuple[str, ...]
    string: tuple[str, ...]
    system: tuple[str, ...]
    datetime: tuple[str, ...]


_NUMERIC_TYPES = frozenset(
    {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
        "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
        "FLOAT", "DOUBLE", "DECIMAL", "BIGNUM",
    }
)  # fmt: skip
# DATE, TIME*, TIMESTAMP* (with or without zone or unit suffix) and INTERVAL.
_TEMPORAL_PREFIXES = ("DATE", "TIME", "INTERVAL")
# DuckDB's catalog has no "system function" category: take the session and
# engine introspection names (current_user, version, pg_typeof, ...) and NULLIF.
_SYSTEM_PREFIXES = ("current_", "pg_", "inet_", "txid_")
_SYSTEM_NAMES = frozenset({"version", "user", "session_user", "typeof", "nullif"})
# Operators (+, ~~, ...) and internal helpers (__...) are not callable by name;
# the per-locale collation hooks (collate_de, icu_collate_fr, ...) are not functions.
_CALLABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_COLLATION_PREFIXES = ("collate_", "icu_collate_")


def _is_temporal(type_name: str) -> bool:
    return type_name.startswith(_TEMPORAL_PREFIXES)


@cache
def function_lists() -> FunctionLists:
    """Classify DuckDB's functions by signature; only datetime and numeric lists may overlap."""
    with _fresh_connection() as con:
        scalars = con.execute(
            "SELECT function_name, return_type, parameter_types, categories "
            "FROM duckdb_functions() WHERE function_type = 'scalar'"
        ).fetchall()
        callable_names = {
            name
            for (name,) in con.execute(
                "SELECT DISTINCT function_name FROM duckdb_functions() "
                "WHERE function_type IN ('scalar', 'macro')"
            ).fetchall()
        }
    numeric: set[str] = set()
    string: set[str] = set()
    datetime: set[str] = set()
    for name, returns, params, categories in scalars:
        if not _CALLABLE_NAME.fullmatch(name) or name.startswith(_COLLATION_PREFIXES):
            continue
        returns = returns or ""
        params = params or []
        categories = categories or []
        if returns in _NUMERIC_TYPES and all(p in _NUMERIC_TYPES for p in params):
            numeric.add(name)
        if _is_temporal(returns) or any(_is_temporal(p) for p in params):
            datetime.add(name)
        if "string" in categories or (params and params[0] == "VARCHAR"):
            string.add(name)
    system = {
        name
        for name in callable_names
        if (name.startswith(_SYSTEM_PREFIXES) or name in _SYSTEM_NAMES) and name not in datetime
    }
    return FunctionLists(
        numeric=tuple(sorted(numeric - system)),
        string=tuple(sorted(string - datetime - system)),
        system=tuple(sorted(system)),
        datetime=tuple(sorted(datetime)),
    )


# One DuckDB type and one sample value per SqlSupportsConvert family. A string
# sample is None: any string parses into a target only when it is that target's
# text form, so string sources are probed with the target's own sample as text.
_CONVERT_PROBES: dict[int, tuple[str, str | None]] = {
    pb.SQL_CONVERT_BIGINT: ("BIGINT", "1::BIGINT"),
    pb.SQL_CONVERT_BINARY: ("BLOB", "'\\x01'::BLOB"),
    pb.SQL_CONVERT_BIT: ("BOOLEAN", "true"),
    pb.SQL_CONVERT_CHAR: ("VARCHAR", None),
    pb.SQL_CONVERT_DATE: ("DATE", "DATE '2024-01-02'"),
    pb.SQL_CONVERT_DECIMAL: ("DECIMAL(18,3)", "1.5::DECIMAL(18,3)"),
    pb.SQL_CONVERT_FLOAT: ("DOUBLE", "1.5::DOUBLE"),
    pb.SQL_CONVERT_INTEGER: ("INTEGER", "1::INTEGER"),
    pb.SQL_CONVERT_INTERVAL_DAY_TIME: ("INTERVAL", "INTERVAL '1 day 02:03:04'"),
    pb.SQL_CONVERT_INTERVAL_YEAR_MONTH: ("INTERVAL", "INTERVAL '1 year 2 months'"),
    pb.SQL_CONVERT_LONGVARBINARY: ("BLOB", "'\\x01'::BLOB"),
    pb.SQL_CONVERT_LONGVARCHAR: ("VARCHAR", None),
    pb.SQL_CONVERT_NUMERIC: ("DECIMAL(18,3)", "1.5::DECIMAL(18,3)"),
    pb.SQL_CONVERT_REAL: ("REAL", "1.5::REAL"),
    pb.SQL_CONVERT_SMALLINT: ("SMALLINT", "1::SMALLINT"),
    pb.SQL_CONVERT_TIME: ("TIME", "TIME '01:02:03'"),
    pb.SQL_CONVERT_TIMESTAMP: ("TIMESTAMP", "TIMESTAMP '2024-01-02 03:04:05'"),
    pb.SQL_CONVERT_TINYINT: ("TINYINT", "1::TINYINT"),
    pb.SQL_CONVERT_VARBINARY: ("BLOB", "'\\x01'::BLOB"),
    pb.SQL_CONVERT_VARCHAR: ("VARCHAR", None),
}


def _converts(con: duckdb.DuckDBPyConnection, source: str, target: str) -> bool:
    try:
        con.execute(f"SELECT CAST({source} AS {target})").fetchall()
    except duckdb.Error:
        return False
    return True


@cache
def conversions() -> Mapping[int, tuple[int, ...]]:
    """SqlSupportsConvert family -> families DuckDB can CAST it to, found by casting samples."""
    result: dict[int, tuple[int, ...]] = {}
    with _fresh_connection() as con:
        for source_code, (_, source_sample) in _CONVERT_PROBES.items():
            targets = []
            for target_code, (target_type, target_sample) in _CONVERT_PROBES.items():
                if source_sample is not None:
                    sample = source_sample
                elif target_sample is not None:
                    sample = f"CAST({target_sample} AS VARCHAR)"
                else:
                    sample = "'text'"
                if _converts(con, sample, target_type):
                    targets.append(target_code)
            result[source_code] = tuple(targets)
    return MappingProxyType(result)
