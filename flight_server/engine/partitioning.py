"""Which queries may run in parts, one per group of a table's files, and each part's query.

A query is split only when the union of its parts is exactly its result: one SELECT
block that scans, filters and projects one table, row by row. Anything that looks at
several rows at once (aggregates, windows, DISTINCT, ORDER BY, LIMIT, GROUP BY, HAVING,
QUALIFY, samples), combines inputs (joins, set operations, subqueries, CTEs) or might
(a macro whose body aggregates) keeps the query whole. This only reads DuckDB's parse
tree; the guard (``guard.py``) has already allowed the query.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import duckdb

from flight_server.identifiers import fold

#: The parse tree of one statement, as ``json_serialize_sql`` gives it.
Tree = dict[str, Any]

# Expression classes that read other rows than their own.
_WHOLE_QUERY_CLASSES = frozenset({"WINDOW", "SUBQUERY"})


def row_wise_functions_excluded(connection: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Functions that are not row by row: aggregates, windows, and macros calling them."""
    rows = connection.execute(
        "SELECT DISTINCT function_name, function_type, macro_definition FROM duckdb_functions()"
        " WHERE function_type IN ('aggregate', 'window', 'macro')"
    ).fetchall()
    excluded = {fold(name) for name, kind, _ in rows if kind != "macro"}
    macros = [(fold(name), str(body or "")) for name, kind, body in rows if kind == "macro"]
    changed = True
    while changed:  # a macro calling a macro that aggregates aggregates too
        changed = False
        for name, body in macros:
            calls = {fold(call) for call in re.findall(r'"?([A-Za-z_][\w]*)"?\s*\(', body)}
            if name not in excluded and calls & excluded:
                excluded.add(name)
                changed = True
    return frozenset(excluded)


def parse(connection: duckdb.DuckDBPyConnection, sql: str) -> Tree | None:
    """The parse tree of ``sql``'s one statement (None if DuckDB cannot serialise it)."""
    rows = connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    tree = json.loads(rows[0][0]) if rows else {"error": True}
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        return None
    statement: Tree = tree["statements"][0]
    return statement


def scanned_table(statement: Tree, excluded: frozenset[str]) -> Tree | None:
    """The BASE_TABLE node of a query that is a row-wise scan of one table, else None."""
    node = statement.get("node") or {}
    source = node.get("from_table") or {}
    if (
        statement.get("named_param_map")
        or node.get("type") != "SELECT_NODE"
        or node.get("modifiers")
        or (node.get("cte_map") or {}).get("map")
        or node.get("group_expressions")
        or node.get("group_sets")
        or node.get("aggregate_handling") != "STANDARD_HANDLING"
        or any(node.get(key) is not None for key in ("having", "qualify", "sample"))
        or source.get("type") != "BASE_TABLE"
        or source.get("sample") is not None
        or source.get("at_clause") is not None
    ):
        return None
    for key in ("select_list", "where_clause"):
        for value in _objects(node.get(key)):
            if value.get("class") in _WHOLE_QUERY_CLASSES or value.get("type") == "SELECT_NODE":
                return None
            if value.get("class") == "FUNCTION" and fold(str(value["function_name"])) in excluded:
                return None
            # A column named through its schema (``proj1.files.id``) would not bind once
            # the table is a subquery named by its alias.
            if value.get("class") == "COLUMN_REF" and len(value.get("column_names", ())) > 2:
                return None
    return source


def bound_to_part(statement: Tree, part: Tree) -> str:
    """The JSON of ``statement`` with its one table replaced by ``part``'s FROM subquery.

    The subquery takes the table's alias (or name), so the query's column references bind
    as before; ``json_deserialize_sql`` turns the result back into SQL.
    """
    rewritten = copy.deepcopy(statement)
    source = rewritten["node"]["from_table"]
    subquery = copy.deepcopy(part["node"]["from_table"])
    subquery["alias"] = source.get("alias") or source.get("table_name")
    subquery["column_name_alias"] = source.get("column_name_alias") or []
    rewritten["node"]["from_table"] = subquery
    return json.dumps({"error": False, "statements": [rewritten]})


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in a subtree (iterative: deep expressions cannot exhaust recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            stack.extend(item.values())


def hive_conditions(statement: Tree, hive_columns: frozenset[str]) -> list[Tree]:
    """The WHERE clause's top-level AND terms that read hive partition columns only.

    Such a term has one value for all rows of a partition, so a partition where it is not
    true holds no row of the result.
    """
    source = statement["node"]["from_table"]
    alias = fold(str(source.get("alias") or source.get("table_name") or ""))
    terms, found = [statement["node"].get("where_clause")], []
    while terms:
        term = terms.pop()
        if not isinstance(term, dict):
            continue
        if term.get("type") == "CONJUNCTION_AND":
            terms.extend(term.get("children") or [])
            continue
        columns = [v for v in _objects(term) if v.get("class") == "COLUMN_REF"]
        if columns and all(_names_hive_column(c, alias, hive_columns) for c in columns):
            found.append(term)
    return found


def hive_values(path: str) -> dict[str, str | None]:
    """The ``key=value`` folders of a file's path, keys folded (DuckDB's default partition
    name read as NULL)."""
    values: dict[str, str | None] = {}
    for segment in path.split("/")[:-1]:
        key, equals, value = segment.partition("=")
        if equals and key:
            values[fold(key)] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
    return values


def conditions_query(statement: Tree, conditions: list[Tree], table: Tree) -> str:
    """The JSON of a SELECT of ``conditions`` over ``table``: a parsed ``SELECT ... FROM
    (VALUES ...) AS alias(columns)`` of the partitions' values, named as the query names
    its table so that the conditions bind there as they did."""
    source = statement["node"]["from_table"]
    query = copy.deepcopy(table)
    query["node"]["from_table"]["alias"] = source.get("alias") or source.get("table_name")
    query["node"]["select_list"] += copy.deepcopy(conditions)
    return json.dumps({"error": False, "statements": [query]})


def _names_hive_column(column: Tree, alias: str, hive_columns: frozenset[str]) -> bool:
    names = [fold(str(name)) for name in column.get("column_names") or []]
    if len(names) == 2 and names[0] == alias:
        names = names[1:]
    return len(names) == 1 and names[0] in hive_columns
