"""SQL lockdown: a query may only be one SELECT over tables its caller may read.

DuckDB parses the text (``extract_statements`` for the statement kind,
``json_serialize_sql`` for the tree), so every spelling — case, comments, CTEs,
subqueries, lambdas, set operations, quoted or three-part names — reaches the same
checks. Anything the walk does not recognise is refused rather than let through.
DuckDB's own lockdown (no file outside the datasets, no extension loading, locked
configuration; see ``duckdb_engine``) is the second line, and holds without this one.

The checks never read a constant's value, so texts that differ only in the values of
their constants pass or fail alike: an application looking records up sends one text
per value. Such texts share a ``Shape`` (DuckDB's tokens, each constant's value taken
out), and an analysis says its shape only when every constant of its text parsed to a
plain value (a ``CONSTANT`` node of that very token, and nothing else there): never where a
string names a table or file (``FROM 'x.parquet'``), an alias or a key, nor for a
negative number, a typed literal or a parameter. Parsing and walking a lookup costs
about 0.7 ms; finding its shape, a tokenisation. Where every such constant is in the WHERE
clause of a query block (not of a subquery inside an expression, whose text may name a
column), it only chooses rows, so the texts of the shape also share their result's columns
and types (``Analysis.columns_follow_shape``), and the server plans only one of them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb

from flight_server.engine.errors import ErrorKind, QueryError, classify
from flight_server.engine.sql_text import quote_ident
from flight_server.identifiers import fold

#: A table as ``(catalog, schema, table)``, each part folded as DuckDB compares names.
TableKey = tuple[str, str, str]
#: A text as DuckDB tokenises it: every token as written (a string), but each constant as
#: its kind and what follows it (a pair), which no text can spell as a token.
Shape = tuple[str | tuple[str, str], ...]


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

# Where a node that names a catalog object keeps the parts of its name, by the field of its
# last part: tables (and DESCRIBE targets), functions (scalar, aggregate, table, window) and
# types. DuckDB also keeps the whole name as written (``qualified_name.path``); a name of
# more parts, or one whose parts disagree with these fields, would bind to something the
# checks never saw (a four-part table name falls back to a replacement scan of its text).
_NAME_FIELDS = (
    ("table_name", ("catalog_name", "schema_name", "table_name")),
    ("function_name", ("catalog", "schema", "function_name")),
    ("type_name", ("catalog", "schema", "type_name")),
)
# Qualifiers a function or type name may carry: DuckDB's built-ins live there, and datasets
# define neither. Any other is refused without looking, so that a hidden catalog and a
# missing one answer alike.
_BUILTIN_CATALOGS = frozenset({"", "system"})
_BUILTIN_SCHEMAS = frozenset({"", _DEFAULT_SCHEMA, "pg_catalog"})
# The parse-tree node of one SELECT block: planning cost grows faster than their number
# (a 2,000-way UNION ALL takes 200 MB to bind).
_QUERY_BLOCK = "SELECT_NODE"
_SELECT_KEYWORD = "select"
# How alike (difflib's ratio) a readable table must be to be a missing one's hint.
_HINT_CUTOFF = 0.8
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Constants whose values a shape leaves out, by their spelling (which the lexer's token
# kinds follow): integers, decimals, and quoted strings with the prefix of their kind
# (E'' escapes, B'' bits, X'' hex). Any other spelling is kept as written.
_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_QUOTED = re.compile(r"[eEbBxX]?'.*'", re.DOTALL)
_CONSTANT = "CONSTANT"
# Functions that answer from the cursor's default catalog and schema: a statement calling
# one is bound with the call's defaults set, as one naming a table without its catalog is.
# Found by comparing every built-in function's answer before and after ``USE`` (a review).
_DEFAULTS_READING_FUNCTIONS = frozenset(
    {"current_catalog", "current_database", "current_schema", "current_schemas", "in_search_path"}
)
# Those of them SQL writes without parentheses, parsed as one-part column names (where a
# column has the name, DuckDB binds the column: the defaults are then set for nothing).
_DEFAULTS_READING_VALUES = frozenset({"current_catalog", "current_schema"})
#: What DuckDB's lexer skips between tokens (PostgreSQL's ``space``), and nothing else:
#: DuckDB reads U+00A0 and other characters Python calls whitespace as part of a name.
#: (It skips ``\v`` too; leaving that out only ever keeps two texts apart.)
SQL_SPACE = " \t\n\r\f"
# Expressions that start where their first operand does, so they may share a constant's
# location: each is chosen by its operator or name, which a shape keeps as written.
_OPERAND_FIRST = frozenset(
    {"COMPARISON", "CONJUNCTION", "OPERATOR", "BETWEEN", "FUNCTION", "CAST", "COLLATE"}
)
# A SELECT block's row filter, the key only expression nodes have, and the reference whose
# columns may come from values (PIVOT, UNPIVOT): what decides whether a shape also fixes the
# result's columns.
_WHERE = "where_clause"
_EXPRESSION = "class"
_PIVOT = "PIVOT"


@dataclass(frozen=True)
class StatementBounds:
    """How large a statement may be: checked on its tokens before DuckDB parses it (parsing
    a 1 MB, 50,000-way UNION takes 600 MB), then on its parse tree before it is planned."""

    max_nodes: int = 100_000
    max_selects: int = 1_000


@dataclass(frozen=True)
class TableAccess:
    """What exists and what the caller may read, both asked with case-folded keys."""

    served: Callable[[TableKey], bool]
    readable: Callable[[TableKey], bool]
    #: Every table the caller may read, for "did you mean" hints (none: no hints).
    readable_tables: Callable[[], Iterable[TableKey]] = tuple


@dataclass(frozen=True)
class TableReference:
    """A table name as written in a query, with every table DuckDB may bind it to."""

    written: str
    candidates: tuple[TableKey, ...]
    #: Spelled like a file path or URL (a replacement scan), not like a table name.
    path_like: bool
    #: Written without its catalog: DuckDB binds it against the call's defaults.
    relative: bool = True


@dataclass(frozen=True)
class Analysis:
    """A query whose shape is allowed, and the tables it names.

    It depends only on the text and the call's defaults, never on the caller, so it can
    be reused for any caller; ``authorise`` then asks about this caller's tables.
    """

    tables: tuple[TableReference, ...]
    #: The statement's parse tree the checks walked, for readers of the same text that
    #: need one (the part analysis, the results cache): parsing costs more than checking.
    #: Only read, never changed. None in an analysis kept for later (``without_tree``).
    tree: dict[str, Any] | None = field(compare=False, repr=False)
    #: The shape of every text this analysis holds for; None if it holds for its own only.
    shape: Shape | None = None
    #: Whether the texts of its shape also share their result's columns and types: each
    #: constant the shape leaves out only chooses rows (``_chooses_rows_only``).
    columns_follow_shape: bool = False
    #: Whether it calls a function that answers from the defaults (``current_schema()``).
    reads_defaults: bool = False

    @property
    def needs_defaults(self) -> bool:
        """Whether DuckDB must bind it with the call's default catalog and schema set."""
        return self.reads_defaults or any(table.relative for table in self.tables)

    def without_tree(self) -> Analysis:
        """This analysis to keep: without the tree, which takes far more memory than the
        rest, and whose constants are its own text's, not those of others of its shape."""
        return replace(self, tree=None)


def analyse(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    default_catalog: str | None = None,
    default_schema: str | None = None,
    bounds: StatementBounds | None = None,
) -> Analysis:
    """The tables ``sql`` reads; ``QueryError`` unless it is one SELECT of an allowed shape.

    ``connection`` is only used to parse; nothing in ``sql`` is run.
    """
    bounds = bounds or StatementBounds()
    tokens = _check_tokens(sql, bounds)
    _check_statement_kind(connection, sql)
    tree = _parse_tree(connection, sql)
    defaults = (fold(default_catalog or _DEFAULT_CATALOG), fold(default_schema or _DEFAULT_SCHEMA))
    tables = []
    selects = 0
    reads_defaults = False
    constants: dict[int, int] = {}  # where the tree has constants (and how long they are),
    others: set[int] = set()  # and other nodes but operators
    for nodes, (node, ctes) in enumerate(_walk(tree), start=1):
        selects += node.get("type") == _QUERY_BLOCK
        if nodes > bounds.max_nodes or selects > bounds.max_selects:
            raise _too_complex(bounds)
        reference = _check_node(node, ctes, defaults)
        if reference is not None:
            tables.append(reference)
        reads_defaults = reads_defaults or _reads_defaults(node)
        if "query_location" in node:
            kind = node.get("class")
            if kind == _CONSTANT:
                location = node["query_location"]
                length = node.get("query_location_length")
                constants[location] = length if constants.get(location, length) == length else -1
            elif kind not in _OPERAND_FIRST:
                others.add(node["query_location"])
    found = Analysis(tuple(tables), tree, reads_defaults=reads_defaults)
    shaped = _shaped(sql, tokens)
    if shaped is None:
        return found
    shape, left_out = shaped
    # The shape holds for other texts only if each constant it leaves out is a plain value:
    # a constant of exactly that token in the tree, and no table, name or other node but
    # an operator's there.
    values_only = not left_out.keys() & others and all(
        constants.get(position) == length for position, length in left_out.items()
    )
    if not values_only:
        return found
    return replace(
        found, shape=shape, columns_follow_shape=_chooses_rows_only(tree, left_out.keys())
    )


def _reads_defaults(node: dict[str, Any]) -> bool:
    """Whether ``node`` calls a function that answers from the defaults, with or without
    parentheses."""
    if (name := called_function(node)) is not None:
        return name in _DEFAULTS_READING_FUNCTIONS
    return one_part_name(node) in _DEFAULTS_READING_VALUES


def called_function(node: dict[str, Any]) -> str | None:
    """The folded name of the function ``node`` calls (scalar, aggregate, window, table);
    None if it is no call."""
    return fold(str(node["function_name"])) if "function_name" in node and "class" in node else None


def one_part_name(node: dict[str, Any]) -> str | None:
    """The folded name of a one-part column reference, as SQL's value functions written
    without parentheses (``current_schema``, ``current_date``) are parsed; None otherwise."""
    names = node.get("column_names") if node.get("class") == "COLUMN_REF" else None
    return fold(str(names[0])) if names and len(names) == 1 else None


def _chooses_rows_only(tree: dict[str, Any], left_out: Iterable[int]) -> bool:
    """Whether each constant at ``left_out`` only decides which rows pass: it is in the
    WHERE clause of a query block reached through the statement's structure (its blocks, set
    operations, CTEs and FROM subqueries), never through an expression, and is a constant
    nowhere outside such a clause; and nothing binds by the data (a PIVOT makes columns of
    values).

    An expression's text names its column when it has no alias, subqueries and their WHERE
    clauses included (``SELECT EXISTS(... WHERE visit = 1)``), and such a name may become a
    struct field's or decide a ``UNION BY NAME``: found by an attack run. So a WHERE inside
    any expression counts only where that expression is itself in such a WHERE clause.
    Iterative, like ``_walk``; one pass over the tree.
    """
    filtering: set[int] = set()
    elsewhere: set[int] = set()
    # (node, inside a structural WHERE clause, inside an expression)
    stack: list[tuple[Any, bool, bool]] = [(tree, False, False)]
    while stack:
        value, in_filter, in_expression = stack.pop()
        if isinstance(value, list):
            stack.extend((item, in_filter, in_expression) for item in value)
            continue
        if not isinstance(value, dict):
            continue
        if value.get("type") == _PIVOT:
            return False
        in_expression = in_expression or _EXPRESSION in value
        if value.get(_EXPRESSION) == _CONSTANT:
            (filtering if in_filter else elsewhere).add(value.get("query_location"))
        for key, child in value.items():
            filters = in_filter or (key == _WHERE and not in_expression)
            stack.append((child, filters, in_expression))
    return all(position in filtering and position not in elsewhere for position in left_out)


def shape_of(sql: str) -> Shape | None:
    """The shape of ``sql``: what its analysis holds for, if it says so (``Analysis.shape``).
    None for a text DuckDB cannot tokenise and for one that is not ASCII (DuckDB counts
    token positions and tree locations in different units there)."""
    try:
        tokens = duckdb.tokenize(sql)
    except (duckdb.Error, RuntimeError):
        return None
    shaped = _shaped(sql, tokens)
    return shaped[0] if shaped else None


def _shaped(sql: str, tokens: list[tuple[int, Any]]) -> tuple[Shape, dict[int, int]] | None:
    """``sql``'s shape, and the position and length of each constant it leaves out.

    Each piece runs from one token to the next, whatever lies between kept as written
    (Python's idea of whitespace is wider than the lexer's), and so does what comes before
    the first; only a constant's own characters are left out.
    """
    if not sql.isascii() or not tokens:
        return None
    pieces: list[str | tuple[str, str]] = [sql[: tokens[0][0]]]
    left_out = {}
    ends = [position for position, _kind in tokens[1:]] + [len(sql)]
    for (position, kind), end in zip(tokens, ends, strict=True):
        written = sql[position:end]
        constant = written.rstrip(SQL_SPACE)
        constant_kind = _constant_kind(kind, constant)
        if constant_kind is None:
            pieces.append(written)
        else:
            pieces.append((constant_kind, written[len(constant) :]))
            left_out[position] = len(constant)
    return tuple(pieces), left_out


def _constant_kind(kind: Any, written: str) -> str | None:
    """What a shape keeps of a constant token: its kind, from its spelling; None for a
    token that is not a constant, or one spelled some other way (kept as written)."""
    if kind == duckdb.token_type.numeric_const:
        if _INTEGER.fullmatch(written):
            return "integer"
        if _DECIMAL.fullmatch(written):
            return "decimal"
    elif kind == duckdb.token_type.string_const and _QUOTED.fullmatch(written):
        return "string " + written[: written.index("'")].lower()
    return None


def _check_tokens(sql: str, bounds: StatementBounds) -> list[tuple[int, Any]]:
    """Refuse a statement too large to parse, from DuckDB's tokenizer (cheap and flat);
    its tokens otherwise."""
    try:
        tokens = duckdb.tokenize(sql)
    except (duckdb.Error, RuntimeError) as exc:
        raise QueryError(ErrorKind.INVALID, f"unsupported query: {exc}") from None
    if len(tokens) > bounds.max_nodes:
        raise _too_complex(bounds)
    length = len(_SELECT_KEYWORD)
    selects = sum(
        1
        for position, kind in tokens
        if kind == duckdb.token_type.keyword
        and sql[position : position + length].lower() == _SELECT_KEYWORD
    )
    if selects > bounds.max_selects:
        raise _too_complex(bounds)
    return tokens


def _too_complex(bounds: StatementBounds) -> QueryError:
    return QueryError(
        ErrorKind.INVALID,
        f"the statement is too complex: at most {bounds.max_selects} SELECT blocks and "
        f"{bounds.max_nodes} syntax nodes are allowed",
    )


def authorise(analysis: Analysis, access: TableAccess) -> None:
    """Raise ``QueryError`` unless every table the query names is one the caller may read."""
    for table in analysis.tables:
        if any(access.served(key) and not access.readable(key) for key in table.candidates):
            raise _missing(table, access)
        if not any(access.readable(key) for key in table.candidates):
            if table.path_like:
                raise QueryError(ErrorKind.PERMISSION, "reading files is not allowed")
            raise _missing(table, access)


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
    if "qualified_name" in node:
        _check_name_parts(node)
    if (name := called_function(node)) is not None:
        if name in _REFUSED_SCALAR_FUNCTIONS or name in CATALOG_READING_MACROS:
            raise QueryError(ErrorKind.PERMISSION, f"function {name} is not allowed")
        if not _builtin_qualifier(node.get("catalog"), node.get("schema")):
            raise QueryError(
                ErrorKind.PERMISSION,
                "functions may not name a catalog or schema (write f(x), not x.f())",
            )
        return None
    if node.get("class") == "TYPE":
        if not _builtin_qualifier(node.get("catalog"), node.get("schema")):
            raise QueryError(ErrorKind.PERMISSION, "types may not name a catalog or schema")
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


def _check_name_parts(node: dict[str, Any]) -> None:
    """Refuse a name whose written parts are not exactly its catalog, schema and name."""
    fields = next((fields for last, fields in _NAME_FIELDS if last in node), None)
    qualified = node.get("qualified_name")
    path = qualified.get("path") if isinstance(qualified, dict) else None
    if fields is None or not isinstance(path, list) or len(path) > 3:
        raise QueryError(ErrorKind.PERMISSION, "names may have at most three parts")
    parts = [str(node.get(field) or "") for field in fields]
    if [str(part) for part in path] != [part for part in parts if part]:
        raise QueryError(ErrorKind.PERMISSION, "names may have at most three parts")


def _builtin_qualifier(catalog: object, schema: object) -> bool:
    """Whether a function or type is named in DuckDB's own catalog (or not qualified)."""
    return (
        fold(str(catalog or "")) in _BUILTIN_CATALOGS
        and fold(str(schema or "")) in _BUILTIN_SCHEMAS
    )


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
    candidates = tuple(_candidates(catalog, schema, table, defaults))
    return TableReference(written, candidates, path_like, relative=not catalog)


def _candidates(catalog: str, schema: str, table: str, defaults: tuple[str, str]) -> list[TableKey]:
    """Every table DuckDB may bind a name to: ``a.b`` is a schema or, failing that, a catalog."""
    if catalog:
        return [(catalog, schema, table)]
    if schema:
        return [(defaults[0], schema, table), (schema, _DEFAULT_SCHEMA, table)]
    return [(defaults[0], defaults[1], table)]


def _missing(table: TableReference, access: TableAccess) -> QueryError:
    """The same answer for hidden and absent tables, so probing reveals nothing: hints
    come only from the tables the caller may read, never from what is hidden."""
    message = f"table {table.written} does not exist"
    wanted = ".".join(table.candidates[0]) if table.candidates else fold(table.written)
    readable = {".".join(key): key for key in access.readable_tables()}
    hints = difflib.get_close_matches(wanted, sorted(readable), n=1, cutoff=_HINT_CUTOFF)
    if hints:
        message += f"; did you mean {_spelled(readable[hints[0]])}?"
    return QueryError(ErrorKind.NOT_FOUND, message)


def _spelled(key: TableKey) -> str:
    """A table name as a user would type it: parts quoted only where they need it."""
    return ".".join(part if _PLAIN_NAME.fullmatch(part) else quote_ident(part) for part in key)


def _check_table_function(function: dict[str, Any]) -> None:
    name = fold(str(function.get("function_name", "")))
    if name not in ALLOWED_TABLE_FUNCTIONS or not _builtin_qualifier(
        function.get("catalog"), function.get("schema")
    ):
        raise QueryError(ErrorKind.PERMISSION, f"table function {name} is not allowed")
