"""SQL lockdown: a query may only be one SELECT over tables its caller may read.

DuckDB parses the text (``extract_statements`` for the statement kind,
``json_serialize_sql`` for the tree), so every spelling — case, comments, CTEs,
subqueries, lambdas, set operations, quoted or three-part names — reaches the same
checks. Anything the walk does not recognise is refused rather than let through.
DuckDB's own settings (no extension loading, locked configuration) are the second
line behind this one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from flight_server.engine.errors import ErrorKind, QueryError, classify
from flight_server.identifiers import fold

#: A table as ``(catalog, schema, table)``, each part folded as DuckDB compares names.
TableKey = tuple[str, str, str]


def table_key(catalog: str, schema: str, table: str) -> TableKey:
    """The key of a table however its name is spelled."""
    return (fold(catalog), fold(schema), fold(table))


# The database DuckDB opens ``:memory:`` as, and the schema every database starts with:
# where unqualified names resolve when a call sets no defaults.
_DEFAULT_CATALOG = "memory"
_DEFAULT_SCHEMA = "main"

# Table functions that compute rows and touch neither files nor the catalog.
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

# Scalar functions that reach past the row they are given: server configuration (paths,
# secrets) or session state; planning another statement, whose bind errors come back as
# data (``json_serialize_plan`` reads any file's lines into its error text); the log; and
# lookups of catalog objects by a name given as a value, which the walk cannot check and
# whose errors tell a hidden catalog from a missing one (indexes, sequences, types).
_REFUSED_SCALAR_FUNCTIONS = frozenset(
    {
        "current_setting",
        "getvariable",
        "getenv",
        "json_serialize_plan",
        "json_serialize_sql",
        "json_deserialize_sql",
        "write_log",
        "index_key",
        "nextval",
        "currval",
        "setval",
        "make_type",
    }
)
#: DuckDB's built-in macros whose bodies read its catalog (``duckdb_views()``, ...): the walk
#: sees only a call, so they are refused by name. A test keeps this list complete.
CATALOG_READING_MACROS = frozenset(
    {"format_type", "get_block_size", "pg_get_constraintdef", "pg_get_viewdef"}
)

# Table references that only combine other references; their children are walked.
_PLAIN_REFERENCES = frozenset({"JOIN", "SUBQUERY", "EMPTY", "EXPRESSION_LIST", "PIVOT"})

# Characters no served table name needs but file paths and URLs do (replacement scans).
_PATH_CHARACTERS = frozenset("/\\.:*?")


@dataclass(frozen=True)
class TableAccess:
    """What exists and what the caller may read, both asked with case-folded keys."""

    served: Callable[[TableKey], bool]
    readable: Callable[[TableKey], bool]


@dataclass(frozen=True)
class TableReference:
    """A table name as written in a query, with every table DuckDB may bind it to."""

    written: str
    candidates: tuple[TableKey, ...]
    #: Spelled like a file path or URL (a replacement scan), not like a table name.
    path_like: bool


@dataclass(frozen=True)
class Analysis:
    """A query whose shape is allowed, and the tables it names.

    It depends only on the text and the call's defaults, never on the caller, so it can
    be reused for any caller; ``authorise`` then asks about this caller's tables.
    """

    tables: tuple[TableReference, ...]


def analyse(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    default_catalog: str | None = None,
    default_schema: str | None = None,
) -> Analysis:
    """The tables ``sql`` reads; ``QueryError`` unless it is one SELECT of an allowed shape.

    ``connection`` is only used to parse; nothing in ``sql`` is run.
    """
    _check_statement_kind(connection, sql)
    tree = _parse_tree(connection, sql)
    defaults = (fold(default_catalog or _DEFAULT_CATALOG), fold(default_schema or _DEFAULT_SCHEMA))
    tables = []
    for node, ctes in _walk(tree):
        reference = _check_node(node, ctes, defaults)
        if reference is not None:
            tables.append(reference)
    return Analysis(tuple(tables))


def authorise(analysis: Analysis, access: TableAccess) -> None:
    """Raise ``QueryError`` unless every table the query names is one the caller may read."""
    for table in analysis.tables:
        if any(access.served(key) and not access.readable(key) for key in table.candidates):
            raise _missing(table)
        if not any(access.readable(key) for key in table.candidates):
            if table.path_like:
                raise QueryError(ErrorKind.PERMISSION, "reading files is not allowed")
            raise _missing(table)


def _check_statement_kind(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = connection.extract_statements(sql)
        kinds = [statement.type for statement in statements]
    except duckdb.Error as exc:
        raise classify(exc) from None
    except ValueError:  # a statement kind the Python binding has no name for
        raise QueryError(ErrorKind.PERMISSION, "this statement is not allowed") from None
    if len(kinds) != 1:
        raise QueryError(ErrorKind.INVALID, f"expected one SQL statement, got {len(kinds)}")
    kind = kinds[0]
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(
            ErrorKind.PERMISSION,
            f"{kind.name} statements are not allowed: this server is read-only",
        )


def _parse_tree(connection: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    try:
        # fetchall, not fetchone: an unfinished result would block the cursor's next query.
        rows = connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    except duckdb.Error as exc:
        raise classify(exc) from None
    tree = json.loads(rows[0][0]) if rows else {"error": True}
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        message = tree.get("error_message") or "the statement could not be analysed"
        raise QueryError(ErrorKind.INVALID, f"unsupported query: {message}")
    return tree["statements"][0]


def _walk(tree: dict[str, Any]) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    """Every object in the tree with the CTE names in scope where it appears.

    Iterative, so deeply nested queries cannot exhaust Python's recursion limit. Scopes
    follow DuckDB's binder: a CTE body sees only the CTEs before it, never its own name,
    because DuckDB binds that name to a real table, view or file. Only the recursive
    branch of a ``WITH RECURSIVE`` CTE sees the CTE itself; its anchor does not.
    """
    stack: list[tuple[Any, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        value, ctes = stack.pop()
        if isinstance(value, list):
            stack.extend((item, ctes) for item in value)
            continue
        if not isinstance(value, dict):
            continue
        yield value, ctes
        entries = (value.get("cte_map") or {}).get("map") or []
        names = [fold(str(entry.get("key", ""))) for entry in entries]
        for index, entry in enumerate(entries):
            stack.append((entry.get("value"), ctes | frozenset(names[:index])))
        inner = ctes | frozenset(names)
        for key, child in value.items():
            if key == "cte_map":
                continue
            if key == "right" and value.get("type") == "RECURSIVE_CTE_NODE":
                child_ctes = inner | {fold(str(value.get("cte_name", "")))}
                stack.append((child, child_ctes))
            else:
                stack.append((child, inner))


def _check_node(
    node: dict[str, Any], ctes: frozenset[str], defaults: tuple[str, str]
) -> TableReference | None:
    """Refuse a node of a forbidden kind; a table it names, if it names one."""
    if node.get("class") == "FUNCTION":
        name = fold(str(node.get("function_name", "")))
        if name in _REFUSED_SCALAR_FUNCTIONS or name in CATALOG_READING_MACROS:
            raise QueryError(ErrorKind.PERMISSION, f"function {name} is not allowed")
        return None
    if "class" in node or "alias" not in node or "sample" not in node:
        return None  # not a table reference
    kind = node.get("type")
    if kind == "BASE_TABLE":
        return _table_reference(node, ctes, defaults)
    if kind == "TABLE_FUNCTION":
        _check_table_function(node.get("function") or {})
    elif kind == "SHOW_REF":
        if node.get("query") is None:  # SHOW TABLES / DATABASES list the whole server
            raise QueryError(ErrorKind.PERMISSION, "SHOW is not allowed; use the catalog listings")
    elif kind not in _PLAIN_REFERENCES:
        raise QueryError(ErrorKind.PERMISSION, f"{kind} table references are not allowed")
    return None


def _table_reference(
    node: dict[str, Any], ctes: frozenset[str], defaults: tuple[str, str]
) -> TableReference | None:
    """The table a BASE_TABLE node names, or None for a CTE of the query itself."""
    catalog = fold(str(node.get("catalog_name") or ""))
    schema = fold(str(node.get("schema_name") or ""))
    table = fold(str(node.get("table_name") or ""))
    if not catalog and not schema and table in ctes:
        return None
    written = ".".join(
        str(part)
        for part in (node.get("catalog_name"), node.get("schema_name"), node.get("table_name"))
        if part
    )
    path_like = not catalog and not schema and bool(_PATH_CHARACTERS & set(table))
    return TableReference(written, tuple(_candidates(catalog, schema, table, defaults)), path_like)


def _candidates(catalog: str, schema: str, table: str, defaults: tuple[str, str]) -> list[TableKey]:
    """Every table DuckDB may bind a name to: ``a.b`` is a schema or, failing that, a catalog."""
    if catalog:
        return [(catalog, schema, table)]
    if schema:
        return [(defaults[0], schema, table), (schema, _DEFAULT_SCHEMA, table)]
    return [(defaults[0], defaults[1], table)]


def _missing(table: TableReference) -> QueryError:
    # The same answer for hidden and absent tables, so probing reveals nothing.
    return QueryError(ErrorKind.NOT_FOUND, f"table {table.written} does not exist")


def _check_table_function(function: dict[str, Any]) -> None:
    name = fold(str(function.get("function_name", "")))
    catalog = fold(str(function.get("catalog") or ""))
    schema = fold(str(function.get("schema") or ""))
    if (
        name not in ALLOWED_TABLE_FUNCTIONS
        or catalog not in ("", "system")
        or schema not in ("", _DEFAULT_SCHEMA)
    ):
        raise QueryError(ErrorKind.PERMISSION, f"table function {name} is not allowed")
