"""The SQL of federated tables: unions across centres, de-duplication, the duplicates report.

The catalog says which centres hold a table and with which columns (``FederatedUnion``);
this module writes the SELECTs, reading each centre's table as the relation its input is
named by (the engine binds those names to the tables' file scans).
"""

from __future__ import annotations

from flight_server.catalog.model import DerivedTable, FederatedUnion
from flight_server.engine.sql_text import quote_ident, quote_literal

#: The column naming each row's centre; a centre's own column of that name is replaced.
CENTER_COLUMN = "center"
# The alias of the union inside a de-duplicating view; a row of it orders as a struct.
_UNION = "__fw_union"

_EMPTY_REPORT = (
    "SELECT NULL::VARCHAR AS table_name, NULL::VARCHAR[] AS criteria, NULL::BIGINT AS rows_in, "
    "NULL::BIGINT AS rows_out, NULL::BIGINT AS duplicates_dropped, "
    "NULL::VARCHAR[] AS duplicate_keys WHERE false"
)


def derived_sql(table: DerivedTable) -> str:
    """A derived table's SELECT over its inputs' relation names."""
    if table.report:
        report = " UNION ALL ".join(f"({_report_sql(union)})" for union in table.unions)
        return f"{report or _EMPTY_REPORT} ORDER BY table_name"
    return _deduplicated_sql(table.unions[0])


def _union_sql(union: FederatedUnion) -> str:
    """Every centre's rows with their centre's name; a source ``center`` column is replaced."""
    selects = []
    for part in union.parts:
        source = quote_ident(part.input)
        label = f"{quote_literal(part.centre)} AS {CENTER_COLUMN}"
        if CENTER_COLUMN in part.columns:
            selects.append(f"SELECT * REPLACE ({label}) FROM {source}")
        else:
            selects.append(f"SELECT {label}, * FROM {source}")
    return " UNION ALL BY NAME ".join(selects)


def _deduplicated_sql(union: FederatedUnion) -> str:
    """Keep one row per key: first centre in configuration order, then the smallest row."""
    rows = _union_sql(union)
    if not union.keys:
        return rows
    centres = ", ".join(quote_literal(c) for c in union.centres)
    rank = f"list_position([{centres}], {CENTER_COLUMN})"
    return (
        f"SELECT * FROM ({rows}) AS {_UNION} QUALIFY row_number() OVER "
        f"(PARTITION BY {', '.join(quote_ident(k) for k in union.keys)} "
        f"ORDER BY {rank}, {_UNION}) = 1"
    )


def _report_sql(union: FederatedUnion) -> str:
    """One report row: rows in and out, duplicates dropped, duplicated keys as JSON."""
    rows, keys = _union_sql(union), union.keys
    name = f"{quote_literal(union.table)} AS table_name"
    criteria = f"[{', '.join(quote_literal(k) for k in keys)}]::VARCHAR[] AS criteria"
    if not keys:
        return (
            f"SELECT {name}, {criteria}, count(*)::BIGINT AS rows_in, "
            f"count(*)::BIGINT AS rows_out, 0::BIGINT AS duplicates_dropped, "
            f"[]::VARCHAR[] AS duplicate_keys FROM ({rows})"
        )
    fields = ", ".join(quote_ident(k) for k in keys)
    key_json = (
        f"to_json(struct_pack({', '.join(f'{quote_ident(k)} := {quote_ident(k)}' for k in keys)}))"
        "::VARCHAR"
    )
    return (
        f"SELECT {name}, {criteria}, coalesce(sum(n), 0)::BIGINT AS rows_in, "
        f"count(*)::BIGINT AS rows_out, coalesce(sum(n - 1), 0)::BIGINT AS duplicates_dropped, "
        f"coalesce(list(key ORDER BY key) FILTER (WHERE n > 1), [])::VARCHAR[] AS duplicate_keys "
        f"FROM (SELECT {key_json} AS key, n FROM "
        f"(SELECT {fields}, count(*) AS n FROM ({rows}) GROUP BY ALL))"
    )
