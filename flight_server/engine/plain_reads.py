"""Plain reads of one table: ``SELECT *`` or a list of its columns, nothing else.

A notebook's ``SELECT * FROM sessions`` and a BI tool's column reads return a table's rows
as they are, so an Arrow copy of the whole table (the memory tables) answers them by
handing out its batches, or a column subset of them, with no DuckDB work at all.

Recognising them is a whitelist over DuckDB's parse tree: any key this module does not know,
and any clause, modifier, alias, ``EXCLUDE``, ``COLUMNS(...)``, sample or time travel, makes
a query not plain, and it runs on DuckDB as usual. Which published table the name binds
to, and whether the caller may read it, the engine decides after the guard, as for any query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flight_server.engine.result_cache import CachedResult
from flight_server.identifiers import fold

# The keys of a SELECT node with nothing but a select list and one table, and the value
# each must have (the select list and the table are checked on their own).
_EMPTY_SELECT = {
    "type": "SELECT_NODE",
    "modifiers": [],
    "cte_map": {"map": []},
    "where_clause": None,
    "group_expressions": [],
    "group_sets": [],
    "aggregate_handling": "STANDARD_HANDLING",
    "having": None,
    "sample": None,
    "qualify": None,
}
_TABLE_KEYS = frozenset(
    {"type", "alias", "sample", "query_location", "query_location_length", "schema_name"}
    | {"table_name", "column_name_alias", "catalog_name", "at_clause", "qualified_name"}
)
_BARE_STAR = {
    "class": "STAR",
    "type": "STAR",
    "alias": "",
    "relation_name": "",
    "exclude_list": [],
    "replace_list": [],
    "columns": False,
    "expr": None,
    "qualified_exclude_list": [],
    "rename_list": [],
}
_LOCATION_KEYS = frozenset({"query_location", "query_location_length"})
_COLUMN_KEYS = frozenset({"class", "type", "alias", "column_names"}) | _LOCATION_KEYS


@dataclass(frozen=True)
class PlainRead:
    """What a plain read returns: every column (``columns`` None) or these, as written."""

    columns: tuple[str, ...] | None


def plain_read(statement: dict[str, Any] | None) -> PlainRead | None:
    """What ``statement`` returns if it is a plain read of one table, else None.

    ``statement``: one statement of ``json_serialize_sql`` (``partitioning.parse``).
    """
    node = statement.get("node") if statement else None
    if not isinstance(node, dict) or set(node) != {*_EMPTY_SELECT, "select_list", "from_table"}:
        return None
    if any(node[key] != value for key, value in _EMPTY_SELECT.items()):
        return None
    select = node["select_list"]
    if not _is_one_table(node["from_table"]) or not isinstance(select, list) or not select:
        return None
    if len(select) == 1 and _without_location(select[0]) == _BARE_STAR:
        return PlainRead(None)
    names = [_column_name(item) for item in select]
    return None if None in names else PlainRead(tuple(str(name) for name in names))


def projected(table: CachedResult, read: PlainRead) -> CachedResult | None:
    """The rows of a table's copy as ``read`` returns them, or None if one of its names is
    not exactly one of the copy's columns (DuckDB then answers, with its own error).

    DuckDB names a column reference by the table's spelling of the column, whatever the
    query's, and gives it the column's type: so the copy's fields, selected, are the result.
    """
    if read.columns is None:
        return table
    by_folded_name: dict[str, list[int]] = {}
    for index, name in enumerate(table.schema.names):
        by_folded_name.setdefault(fold(name), []).append(index)
    indices = []
    for name in read.columns:
        found = by_folded_name.get(fold(name), [])
        if len(found) != 1:
            return None
        indices.append(found[0])
    schema = pa.schema([table.schema.field(i) for i in indices], table.schema.metadata)
    batches = tuple(batch.select(indices) for batch in table.batches)
    return CachedResult(schema, batches, table.bytes)


def _is_one_table(table: Any) -> bool:
    """A table named as it is: no sample, time travel or column aliases."""
    return (
        isinstance(table, dict)
        and set(table) == _TABLE_KEYS
        and table["type"] == "BASE_TABLE"
        and table["sample"] is None
        and table["at_clause"] is None
        and table["column_name_alias"] == []
    )


def _column_name(item: Any) -> object:
    """The name of a bare, unaliased, unqualified column reference, else None."""
    if not isinstance(item, dict) or set(item) != _COLUMN_KEYS:
        return None
    names = item["column_names"]
    if item["class"] != "COLUMN_REF" or item["alias"] != "" or len(names) != 1:
        return None
    return names[0]


def _without_location(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    return {key: value for key, value in item.items() if key not in _LOCATION_KEYS}
