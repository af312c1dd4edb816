"""The server's CommandGetSqlInfo answers: a read-only Flight SQL endpoint over DuckDB.

Every SqlInfo id with a meaningful answer is covered. The Substrait min/max
version ids are left out: the spec wants null when Substrait is unsupported and
the union cannot carry a null, so omitting them (allowed for any id) is the
honest reply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa

from flight_server.flightsql import dialect
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.schemas import (
    SQL_INFO,
    SQL_INFO_VALUE_FIELDS,
    SQL_INFO_VALUE_TYPE,
    SqlInfoValueCode,
)

SqlInfoValue = str | bool | int | Sequence[str] | Mapping[int, Sequence[int]]

_STRING = SqlInfoValueCode.STRING_VALUE
_BOOL = SqlInfoValueCode.BOOL_VALUE
_BIGINT = SqlInfoValueCode.BIGINT_VALUE
_INT32 = SqlInfoValueCode.INT32_BITMASK  # the union's only int32 child, also used for ordinals
_STRINGS = SqlInfoValueCode.STRING_LIST
_CONVERT_MAP = SqlInfoValueCode.INT32_TO_INT32_LIST_MAP


def _bits(*members: int) -> int:
    """Bitmask answer: enum value n sets bit n."""
    mask = 0
    for member in members:
        mask |= 1 << member
    return mask


_NO_LIMIT = 0  # the spec's "no limit, or not known" for every SQL_MAX_* id

_FIXED: dict[int, tuple[SqlInfoValueCode, SqlInfoValue]] = {
    pb.FLIGHT_SQL_SERVER_ARROW_VERSION: (_STRING, pa.__version__),
    pb.FLIGHT_SQL_SERVER_READ_ONLY: (_BOOL, True),
    pb.FLIGHT_SQL_SERVER_SQL: (_BOOL, True),
    pb.FLIGHT_SQL_SERVER_SUBSTRAIT: (_BOOL, False),
    pb.FLIGHT_SQL_SERVER_TRANSACTION: (_INT32, pb.SQL_SUPPORTED_TRANSACTION_NONE),
    pb.FLIGHT_SQL_SERVER_CANCEL: (_BOOL, True),
    pb.FLIGHT_SQL_SERVER_BULK_INGESTION: (_BOOL, False),
    pb.FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED: (_BOOL, False),
    pb.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: (_INT32, 0),
    pb.FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: (_INT32, 0),
    pb.SQL_DDL_CATALOG: (_BOOL, False),
    pb.SQL_DDL_SCHEMA: (_BOOL, False),
    pb.SQL_DDL_TABLE: (_BOOL, False),
    # DuckDB matches identifiers case-insensitively, quoted or not, and keeps their case.
    pb.SQL_IDENTIFIER_CASE: (_INT32, pb.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE),
    pb.SQL_IDENTIFIER_QUOTE_CHAR: (_STRING, '"'),
    pb.SQL_QUOTED_IDENTIFIER_CASE: (_INT32, pb.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE),
    pb.SQL_ALL_TABLES_ARE_SELECTABLE: (_BOOL, True),
    # DuckDB's default_null_order is NULLS LAST for ascending and descending sorts.
    pb.SQL_NULL_ORDERING: (_INT32, pb.SQL_NULLS_SORTED_AT_END),
    # Catalog search patterns (GetDbSchemas/GetTables filters) escape % and _ with it.
    pb.SQL_SEARCH_STRING_ESCAPE: (_STRING, "\\"),
    pb.SQL_EXTRA_NAME_CHARACTERS: (_STRING, "$"),
    pb.SQL_SUPPORTS_COLUMN_ALIASING: (_BOOL, True),
    pb.SQL_NULL_PLUS_NULL_IS_NULL: (_BOOL, True),
    pb.SQL_SUPPORTS_TABLE_CORRELATION_NAMES: (_BOOL, True),
    pb.SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES: (_BOOL, False),
    pb.SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY: (_BOOL, True),
    pb.SQL_SUPPORTS_ORDER_BY_UNRELATED: (_BOOL, True),
    pb.SQL_SUPPORTED_GROUP_BY: (
        _INT32,
        _bits(pb.SQL_GROUP_BY_UNRELATED, pb.SQL_GROUP_BY_BEYOND_SELECT),
    ),
    pb.SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE: (_BOOL, True),
    pb.SQL_SUPPORTS_NON_NULLABLE_COLUMNS: (_BOOL, True),
    # ODBC's extended grammar needs positioned UPDATE/DELETE and SELECT FOR UPDATE.
    pb.SQL_SUPPORTED_GRAMMAR: (_INT32, _bits(pb.SQL_MINIMUM_GRAMMAR, pb.SQL_CORE_GRAMMAR)),
    pb.SQL_ANSI92_SUPPORTED_LEVEL: (
        _INT32,
        _bits(pb.ANSI92_ENTRY_SQL, pb.ANSI92_INTERMEDIATE_SQL),
    ),
    pb.SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY: (_BOOL, True),
    pb.SQL_OUTER_JOINS_SUPPORT_LEVEL: (_INT32, pb.SQL_FULL_OUTER_JOINS),
    pb.SQL_SCHEMA_TERM: (_STRING, "schema"),
    pb.SQL_PROCEDURE_TERM: (_STRING, "procedure"),
    pb.SQL_CATALOG_TERM: (_STRING, "catalog"),
    pb.SQL_CATALOG_AT_START: (_BOOL, True),
    # No procedures, no index or privilege DDL through a read-only server.
    pb.SQL_SCHEMAS_SUPPORTED_ACTIONS: (_INT32, _bits()),
    pb.SQL_CATALOGS_SUPPORTED_ACTIONS: (_INT32, _bits()),
    pb.SQL_SUPPORTED_POSITIONED_COMMANDS: (_INT32, _bits()),
    pb.SQL_SELECT_FOR_UPDATE_SUPPORTED: (_BOOL, False),
    pb.SQL_STORED_PROCEDURES_SUPPORTED: (_BOOL, False),
    pb.SQL_SUPPORTED_SUBQUERIES: (
        _INT32,
        _bits(
            pb.SQL_SUBQUERIES_IN_COMPARISONS,
            pb.SQL_SUBQUERIES_IN_EXISTS,
            pb.SQL_SUBQUERIES_IN_INS,
            pb.SQL_SUBQUERIES_IN_QUANTIFIEDS,
        ),
    ),
    pb.SQL_CORRELATED_SUBQUERIES_SUPPORTED: (_BOOL, True),
    pb.SQL_SUPPORTED_UNIONS: (_INT32, _bits(pb.SQL_UNION, pb.SQL_UNION_ALL)),
    pb.SQL_MAX_BINARY_LITERAL_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_CHAR_LITERAL_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_COLUMN_NAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_COLUMNS_IN_GROUP_BY: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_COLUMNS_IN_INDEX: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_COLUMNS_IN_ORDER_BY: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_COLUMNS_IN_SELECT: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_COLUMNS_IN_TABLE: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_CONNECTIONS: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_CURSOR_NAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_INDEX_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_DB_SCHEMA_NAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_PROCEDURE_NAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_CATALOG_NAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_ROW_SIZE: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS: (_BOOL, False),
    pb.SQL_MAX_STATEMENT_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_STATEMENTS: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_TABLE_NAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_TABLES_IN_SELECT: (_BIGINT, _NO_LIMIT),
    pb.SQL_MAX_USERNAME_LENGTH: (_BIGINT, _NO_LIMIT),
    pb.SQL_DEFAULT_TRANSACTION_ISOLATION: (_INT32, pb.SQL_TRANSACTION_NONE),
    pb.SQL_TRANSACTIONS_SUPPORTED: (_BOOL, False),
    pb.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS: (_INT32, _bits(pb.SQL_TRANSACTION_NONE)),
    pb.SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT: (_BOOL, False),
    pb.SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED: (_BOOL, False),
    # Results stream once, front to back, and cannot be updated through the cursor.
    pb.SQL_SUPPORTED_RESULT_SET_TYPES: (_INT32, _bits(pb.SQL_RESULT_SET_TYPE_FORWARD_ONLY)),
    pb.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED: (_INT32, _bits()),
    pb.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY: (
        _INT32,
        _bits(pb.SQL_RESULT_SET_CONCURRENCY_READ_ONLY),
    ),
    pb.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE: (_INT32, _bits()),
    pb.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE: (_INT32, _bits()),
    pb.SQL_BATCH_UPDATES_SUPPORTED: (_BOOL, False),
    pb.SQL_SAVEPOINTS_SUPPORTED: (_BOOL, False),
    pb.SQL_NAMED_PARAMETERS_SUPPORTED: (_BOOL, False),
    pb.SQL_LOCATORS_UPDATE_COPY: (_BOOL, False),
    pb.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED: (_BOOL, False),
}

# Answers read from DuckDB itself; computed on first request and cached there.
_FROM_DUCKDB: dict[int, tuple[SqlInfoValueCode, Callable[[], SqlInfoValue]]] = {
    pb.SQL_KEYWORDS: (_STRINGS, dialect.keywords),
    pb.SQL_NUMERIC_FUNCTIONS: (_STRINGS, lambda: dialect.function_lists().numeric),
    pb.SQL_STRING_FUNCTIONS: (_STRINGS, lambda: dialect.function_lists().string),
    pb.SQL_SYSTEM_FUNCTIONS: (_STRINGS, lambda: dialect.function_lists().system),
    pb.SQL_DATETIME_FUNCTIONS: (_STRINGS, lambda: dialect.function_lists().datetime),
    pb.SQL_SUPPORTS_CONVERT: (_CONVERT_MAP, dialect.conversions),
}

_PER_SERVER = (pb.FLIGHT_SQL_SERVER_NAME, pb.FLIGHT_SQL_SERVER_VERSION)

KNOWN_IDS: frozenset[int] = frozenset(_FIXED) | frozenset(_FROM_DUCKDB) | frozenset(_PER_SERVER)


def sql_info_table(requested: Sequence[int], *, server_name: str, server_version: str) -> pa.Table:
    """Rows of SQL_INFO for ``requested`` ids (all KNOWN_IDS if empty), unknown ids omitted.

    Requested order is kept and repeated ids answered once.
    """
    answers: dict[int, tuple[SqlInfoValueCode, SqlInfoValue]] = {
        pb.FLIGHT_SQL_SERVER_NAME: (_STRING, server_name),
        pb.FLIGHT_SQL_SERVER_VERSION: (_STRING, server_version),
    }
    ids = dict.fromkeys(requested) if requested else sorted(KNOWN_IDS)
    rows: list[tuple[int, SqlInfoValueCode, SqlInfoValue]] = []
    for info_id in ids:
        if info_id in answers:
            rows.append((info_id, *answers[info_id]))
        elif info_id in _FIXED:
            rows.append((info_id, *_FIXED[info_id]))
        elif info_id in _FROM_DUCKDB:
            code, compute = _FROM_DUCKDB[info_id]
            rows.append((info_id, code, compute()))
    return _to_table(rows)


def _to_table(rows: Sequence[tuple[int, SqlInfoValueCode, SqlInfoValue]]) -> pa.Table:
    """Build the dense union by hand: each row's type id picks a child, its offset a slot."""
    children: list[list[object]] = [[] for _ in SQL_INFO_VALUE_FIELDS]
    type_ids: list[int] = []
    offsets: list[int] = []
    for _, code, value in rows:
        if isinstance(value, Mapping):  # pyarrow builds map arrays from (key, value) pairs
            value = [(key, list(items)) for key, items in value.items()]
        type_ids.append(code)
        offsets.append(len(children[code]))
        children[code].append(value)
    values = pa.Array.from_buffers(
        SQL_INFO_VALUE_TYPE,
        len(rows),
        [
            None,
            pa.array(type_ids, pa.int8()).buffers()[1],
            pa.array(offsets, pa.int32()).buffers()[1],
        ],
        children=[
            pa.array(child, field.type)
            for child, field in zip(children, SQL_INFO_VALUE_FIELDS, strict=True)
        ],
    )
    info_names = pa.array([info_id for info_id, _, _ in rows], pa.uint32())
    return pa.Table.from_arrays([info_names, values], schema=SQL_INFO)
