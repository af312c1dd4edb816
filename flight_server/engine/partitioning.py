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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from flight_server.identifiers import fold

#: The parse tree of one statement, as ``json_serialize_sql`` gives it.
Tree = dict[str, Any]

# Expression classes that read other rows than their own.
_WHOLE_QUERY_CLASSES = frozenset({"WINDOW", "SUBQUERY"})
# Select-list items named otherwise than by their text: a column, and stars and COLUMNS().
_COLUMN = "COLUMN_REF"
_STAR = "STAR"
# The FROM of a SELECT without one, and how DuckDB starts its rendering of such a SELECT.
_NO_TABLE = {"type": "EMPTY", "alias": "", "sample": None}
_SELECT_PREFIX = "SELECT "


_INTEGER_KINDS = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"}
    | {"UINTEGER", "UBIGINT", "UHUGEINT"}
)


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
    source = _one_table_select(statement)
    if source is None:
        return None
    node = statement["node"]
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


def counted_names(statement: Tree) -> list[str] | None:
    """The result's column names if the query is only ``count(*)`` of one whole table
    (``SELECT count(*) [AS n], ... FROM t``: no WHERE, grouping or modifiers), else None.

    DuckDB names an unaliased ``count(*)`` ``count_star()``; its type is BIGINT.
    """
    if _one_table_select(statement) is None:
        return None
    node = statement["node"]
    names = []
    for item in node.get("select_list") or [None]:
        if not (
            isinstance(item, dict)
            and item.get("class") == "FUNCTION"
            and item.get("function_name") == "count_star"
            and not item.get("arguments")
            and not item.get("catalog")
            and not item.get("schema")
            and item.get("filter") is None
            and not item.get("distinct")
            and not (item.get("order_bys") or {}).get("orders")
            and not item.get("export_state")
        ):
            return None
        names.append(str(item.get("alias") or "count_star()"))
    return names if node.get("where_clause") is None else None


def limited_rows(statement: Tree, excluded: frozenset[str]) -> int | None:
    """``n + m`` for ``SELECT <row-wise list> FROM t LIMIT n [OFFSET m]`` (constants; no
    WHERE, ORDER BY or other modifier), else None.

    Without an order any ``n`` rows answer it, so the table's first files holding ``n + m``
    rows are all it needs to read.
    """
    node = statement.get("node") or {}
    modifiers = node.get("modifiers") or []
    if (
        len(modifiers) != 1
        or modifiers[0].get("type") != "LIMIT_MODIFIER"
        or modifiers[0].get("limit_type") != "ROW_COUNT"
        or node.get("where_clause") is not None
    ):
        return None
    limit, offset = (_row_count(modifiers[0].get(key)) for key in ("limit", "offset"))
    unlimited = {**statement, "node": {**node, "modifiers": []}}
    if limit is None or offset is None or scanned_table(unlimited, excluded) is None:
        return None
    return limit + offset


def _row_count(value: Any) -> int | None:
    """A LIMIT or OFFSET that is a non-negative integer constant (0 when absent)."""
    if value is None:
        return 0
    literal = (value.get("literal") or {}) if value.get("class") == "CONSTANT" else {}
    if literal.get("kind") not in _INTEGER_KINDS:
        return None
    try:
        rows = int(str(literal.get("text")))
    except ValueError:
        return None
    return rows if rows >= 0 else None


def _one_table_select(statement: Tree) -> Tree | None:
    """The BASE_TABLE node of a plain SELECT from one table (no CTE, grouping, HAVING,
    QUALIFY, sample, modifier or parameter), else None."""
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
    return source


def bound_to_part(statement: Tree, part: Tree) -> str:
    """The JSON of ``statement`` with its one table replaced by ``part``'s FROM table.

    That table takes the query's alias (or name), so the query's column references bind
    as before; ``json_deserialize_sql`` turns the result back into SQL.
    """
    # Only the path to the table is copied: both trees are only read (``statement`` may
    # be a cached parse), and deep copies of a wide table's scan took tens of milliseconds.
    node = statement["node"]
    source = node["from_table"]
    subquery = {
        **part["node"]["from_table"],
        "alias": source.get("alias") or source.get("table_name"),
        "column_name_alias": source.get("column_name_alias") or [],
    }
    rewritten = {**statement, "node": {**node, "from_table": subquery}}
    return json.dumps({"error": False, "statements": [rewritten]})


def named_by_text(statement: Tree) -> list[int]:
    """Where the select list has items DuckDB names by their text: no alias, not a column
    (named by itself), and no star or ``COLUMNS`` anywhere in them (they expand into columns
    named by the columns they stand for, which one alias would rename alike).

    A rewritten query is DuckDB's rendering of the tree, which names such an item by the
    rendering, and that is not always the text as written (``n::"INT"`` is named
    ``CAST(n AS INT)``, its rendering parses back as ``CAST(n AS INTEGER)``): found by an
    attack run, when a part or a pruned plan named a column otherwise than the query."""
    items = statement["node"].get("select_list") or []
    return [
        index
        for index, item in enumerate(items)
        if not item.get("alias")
        and item.get("class") != _COLUMN
        and not any(value.get("class") == _STAR for value in _objects(item))
    ]


def item_alone(statement: Tree, index: int) -> str:
    """The JSON of ``SELECT <item>`` for one select-list item: DuckDB renders it as
    ``SELECT`` and the item's name (``item_name``)."""
    node = statement["node"]
    alone = {
        **node,
        "select_list": [node["select_list"][index]],
        "from_table": _NO_TABLE,
        "where_clause": None,
        "modifiers": [],
    }
    return json.dumps({"error": False, "statements": [{**statement, "node": alone}]})


def item_name(rendered: str) -> str:
    """A select-list item's name, from DuckDB's rendering of its ``item_alone``."""
    if not rendered.startswith(_SELECT_PREFIX):
        raise ValueError(f"unexpected rendering of a select-list item: {rendered[:80]!r}")
    return rendered[len(_SELECT_PREFIX) :]


def with_aliases(statement: Tree, names: Mapping[int, str]) -> Tree:
    """``statement`` with the select-list items at ``names``' indexes aliased to them (only
    the path to them is copied: ``statement`` may be a cached parse)."""
    node = statement["node"]
    items = [
        {**item, "alias": names[index]} if index in names else item
        for index, item in enumerate(node.get("select_list") or [])
    ]
    return {**statement, "node": {**node, "select_list": items}}


def spliced(sql: str, placeholder: str, scan: str) -> str:
    """``sql`` with the one table named ``placeholder`` replaced by the subquery ``scan``.

    ``sql`` is a query bound to the placeholder (``bound_to_part``) as DuckDB writes it
    back: splicing the scan in as text spares parsing it and carrying it through JSON
    both ways (a 200-column scan's round trip took 15 ms). The name must occur exactly
    once, quoted or bare, so it cannot be mistaken for anything the query says.
    """
    found = list(re.finditer(rf'(?<![\w"])"?{re.escape(placeholder)}"?(?![\w"])', sql))
    if len(found) != 1:
        raise ValueError("the query does not name the part's placeholder once")
    start, end = found[0].span()
    return f"{sql[:start]}({scan}){sql[end:]}"


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
    alias = _alias(statement)
    found = []
    for term in _and_terms(statement):
        columns = [v for v in _objects(term) if v.get("class") == "COLUMN_REF"]
        if columns and all(_column_named(c, alias) in hive_columns for c in columns):
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


#: DuckDB types whose values, as pyarrow reads them from parquet statistics (``int``,
#: ``str``, ``date``, ``datetime``), Python orders exactly as DuckDB does (strings by code
#: point, which is UTF-8 byte order; timestamps with a zone by instant).
INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)
BOUNDED_TYPES = INTEGER_TYPES | {"VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}

# An integer literal's text, as ``int`` reads it.
_INTEGER = re.compile(r"-?[0-9]+")
# ``literal op column`` read as ``column op literal``.
_MIRRORED = {
    "COMPARE_EQUAL": "COMPARE_EQUAL",
    "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
    "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
    "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN",
    "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO",
}


@dataclass(frozen=True)
class RangeTerm:
    """A top-level AND term of the WHERE clause that a file's min and max can rule out:
    ``column op literal`` (op one of ``=, <, <=, >, >=``, as ``COMPARE_*``), ``column IN
    (literals)`` (``COMPARE_IN``) or ``column BETWEEN low AND high`` (``COMPARE_BETWEEN``).

    ``literals`` are ``(kind, text)`` as DuckDB parsed them: ``STRING`` ones DuckDB casts to
    the column's type before comparing, ``INTEGER`` ones (for integer columns only) it
    compares exactly; so comparing the cast values with a file's bounds is DuckDB's own
    comparison.
    """

    column: str
    comparison: str
    literals: tuple[tuple[str, str], ...]


def range_terms(statement: Tree, column_types: Mapping[str, str]) -> list[RangeTerm]:
    """The WHERE clause's top-level AND terms on columns of ``column_types`` (folded name
    to DuckDB type) that per-file bounds can rule out.

    Anything else is left to DuckDB: a function, cast or collation of the column, NOT, OR,
    other literals (NULL, decimals, casts), other types. A row of the result satisfies every
    AND term, so a file where one of them holds for no value between its min and max holds
    no row of the result.
    """
    alias = _alias(statement)
    found = []
    for term in _and_terms(statement):
        kind = term.get("type")
        if kind in _MIRRORED:
            left, right = term.get("left") or {}, term.get("right") or {}
            if left.get("class") != "COLUMN_REF":
                left, right, kind = right, left, _MIRRORED[str(kind)]
            column, operands = left, [right]
        elif kind == "COMPARE_IN":
            column, *operands = term.get("children") or [{}]
        elif kind == "COMPARE_BETWEEN":
            column, operands = term.get("input") or {}, [term.get("lower"), term.get("upper")]
        else:
            continue
        name = _column_named(column, alias) if column.get("class") == "COLUMN_REF" else None
        type_name = column_types.get(name or "")
        literals = [_literal(operand, type_name) for operand in operands]
        if name and type_name in BOUNDED_TYPES and literals and None not in literals:
            found.append(RangeTerm(name, str(kind), tuple(filter(None, literals))))
    return found


#: Whether some value from ``low`` to ``high`` satisfies a term, by its comparison, given
#: its literals' values (in the column's type, of the bounds' kind).
_HOLDS: dict[str, Callable[[Any, Any, Sequence[Any]], bool]] = {
    "COMPARE_EQUAL": lambda low, high, values: low <= values[0] <= high,
    "COMPARE_IN": lambda low, high, values: any(low <= value <= high for value in values),
    "COMPARE_LESSTHAN": lambda low, high, values: low < values[0],
    "COMPARE_LESSTHANOREQUALTO": lambda low, high, values: low <= values[0],
    "COMPARE_GREATERTHAN": lambda low, high, values: high > values[0],
    "COMPARE_GREATERTHANOREQUALTO": lambda low, high, values: high >= values[0],
    "COMPARE_BETWEEN": lambda low, high, values: high >= values[0] and low <= values[1],
}
#: The kinds of values Python orders as DuckDB orders their column's values, by the type
#: pyarrow and DuckDB give them as (``datetime`` apart: naive and aware ones differ).
_ORDER_KINDS: dict[type, str] = {int: "int", str: "str", date: "date"}


def bounds_test(
    term: RangeTerm, values: Sequence[object]
) -> Callable[[object, object], bool] | None:
    """A test of a file's ``(min, max)`` of the term's column: False only when no value
    between them satisfies ``term``, whose literals are ``values`` in the column's type.

    Bounds of another kind than the values (a file whose column has another type) pass;
    None when the values are not all of one kind Python orders as DuckDB does. Called once
    per file of a table: the checks it can make once are made here.
    """
    kind = _order_kind(values[0])
    if kind is None or any(_order_kind(value) != kind for value in values):
        return None
    holds = _HOLDS[term.comparison]

    def may_hold(low: object, high: object) -> bool:
        # A file's min and max of a column are of one type (``catalog.bounds``).
        return _order_kind(low) != kind or holds(low, high, values)

    return may_hold


def _order_kind(value: object) -> str | None:
    """Which values Python orders as DuckDB orders them, together (None: none)."""
    if type(value) is datetime:
        return "naive" if value.tzinfo is None else "aware"
    return _ORDER_KINDS.get(type(value))


def _literal(operand: Any, type_name: str | None) -> tuple[str, str] | None:
    """A plain literal that DuckDB compares with a column of ``type_name`` in that type."""
    if not isinstance(operand, dict) or operand.get("class") != "CONSTANT":
        return None
    literal = operand.get("literal") or {}
    kind, text = literal.get("kind"), literal.get("text")
    integer = kind == "INTEGER" and type_name in INTEGER_TYPES
    if not isinstance(text, str) or not (
        kind == "STRING" or (integer and _INTEGER.fullmatch(text))
    ):
        return None
    return str(kind), text


def _and_terms(statement: Tree) -> Iterator[Tree]:
    """The WHERE clause's top-level AND terms (each must hold for a row of the result)."""
    terms = [statement["node"].get("where_clause")]
    while terms:
        term = terms.pop()
        if not isinstance(term, dict):
            continue
        if term.get("type") == "CONJUNCTION_AND":
            terms.extend(term.get("children") or [])
        else:
            yield term


def _alias(statement: Tree) -> str:
    """The name the query gives its one table, folded."""
    source = statement["node"]["from_table"]
    return fold(str(source.get("alias") or source.get("table_name") or ""))


def _column_named(column: Tree, alias: str) -> str | None:
    """The folded column a COLUMN_REF names, written plain or after the table's name."""
    names = [fold(str(name)) for name in column.get("column_names") or []]
    if len(names) == 2 and names[0] == alias:
        names = names[1:]
    return names[0] if len(names) == 1 else None
