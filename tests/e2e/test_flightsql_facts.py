"""Flight SQL protocol facts: wire encoding, generated code, reply schemas, SqlInfo, XDBC types.

Expected bytes and types below are worked out by hand from the Flight SQL spec,
so a wrong field number, wire type or union child fails here, not in a client.
"""

from __future__ import annotations

import struct

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.ipc as ipc
import pytest
from google.protobuf import any_pb2

from flight_server.flightsql import flight_session_pb2 as fs
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.generate import PACKAGE_DIR, generate
from flight_server.flightsql.schemas import (
    FOREIGN_KEYS,
    PRIMARY_KEYS,
    SQL_INFO,
    TABLES,
    TABLES_WITH_SCHEMA,
    XDBC_TYPE_INFO,
    ColumnMetadataKey,
    SqlInfoValueCode,
)
from flight_server.flightsql.sql_info import KNOWN_IDS, sql_info_table
from flight_server.flightsql.xdbc_types import xdbc_type_info_table

# --- generated code -----------------------------------------------------------


def test_generated_modules_match_protos(tmp_path):
    written = generate(tmp_path)
    assert {p.name for p in written} == {
        "flight_sql_pb2.py",
        "flight_sql_pb2.pyi",
        "flight_session_pb2.py",
        "flight_session_pb2.pyi",
    }
    for fresh in written:
        committed = PACKAGE_DIR / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed.name} is stale: run python -m flight_server.flightsql.generate"
        )


def test_coexists_with_other_flight_sql_bindings():
    # flightsql-dbapi registers the same message names in protobuf's default pool.
    other = pytest.importorskip("flightsql.flightsql_pb2")
    ours = pb.CommandStatementQuery(query="SELECT 1", transaction_id=b"t")
    theirs = other.CommandStatementQuery.FromString(ours.SerializeToString())
    assert theirs.query == "SELECT 1"
    assert pb.CommandStatementQuery.FromString(theirs.SerializeToString()) == ours


# --- Any packing and wire bytes -------------------------------------------------


def test_any_type_url_uses_spec_package():
    packed = any_pb2.Any()
    packed.Pack(pb.CommandStatementQuery(query="SELECT 1"))
    assert packed.type_url == "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    decoded = pb.CommandStatementQuery()
    assert any_pb2.Any.FromString(packed.SerializeToString()).Unpack(decoded)
    assert decoded.query == "SELECT 1"


def test_session_type_url_uses_flight_package():
    packed = any_pb2.Any()
    packed.Pack(fs.CloseSessionRequest())
    assert packed.type_url == "type.googleapis.com/arrow.flight.protocol.CloseSessionRequest"


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        # field 1 LEN "SELECT 1", field 2 LEN "tx"
        (
            pb.CommandStatementQuery(query="SELECT 1", transaction_id=b"tx"),
            b"\x0a\x08SELECT 1\x12\x02tx",
        ),
        # proto3 `optional`: an explicitly empty value is still sent
        (pb.CommandStatementQuery(transaction_id=b""), b"\x12\x00"),
        (pb.CommandStatementQuery(), b""),
        # packed repeated uint32: 0, 517 (= 0x85 0x04)
        (pb.CommandGetSqlInfo(info=[0, 517]), b"\x0a\x03\x00\x85\x04"),
        # optional int32, negative: ten-byte varint
        (pb.CommandGetXdbcTypeInfo(data_type=-5), b"\x08\xfb\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        (pb.CommandGetXdbcTypeInfo(data_type=0), b"\x08\x00"),
        (
            pb.CommandGetTables(catalog="", table_types=["TABLE", "VIEW"], include_schema=True),
            b"\x0a\x00\x22\x05TABLE\x22\x04VIEW\x28\x01",
        ),
        (pb.CommandGetDbSchemas(db_schema_filter_pattern="m%"), b"\x12\x02m%"),
        (pb.CommandGetPrimaryKeys(db_schema="s", table="t"), b"\x12\x01s\x1a\x01t"),
        (
            pb.CommandGetCrossReference(pk_table="a", fk_catalog="c", fk_table="b"),
            b"\x1a\x01a\x22\x01c\x32\x01b",
        ),
        (
            pb.ActionCreatePreparedStatementResult(
                prepared_statement_handle=b"h", dataset_schema=b"d", parameter_schema=b"p"
            ),
            b"\x0a\x01h\x12\x01d\x1a\x01p",
        ),
        (
            pb.ActionCreatePreparedSubstraitPlanRequest(
                plan=pb.SubstraitPlan(plan=b"p", version="0.1"), transaction_id=b"t"
            ),
            b"\x0a\x08\x0a\x01p\x12\x030.1\x12\x01t",
        ),
        (
            pb.ActionEndTransactionRequest(
                transaction_id=b"t", action=pb.ActionEndTransactionRequest.END_TRANSACTION_COMMIT
            ),
            b"\x0a\x01t\x10\x01",
        ),
        (
            pb.ActionEndSavepointRequest(
                savepoint_id=b"s", action=pb.ActionEndSavepointRequest.END_SAVEPOINT_ROLLBACK
            ),
            b"\x0a\x01s\x10\x02",
        ),
        (pb.ActionBeginSavepointRequest(transaction_id=b"t", name="n"), b"\x0a\x01t\x12\x01n"),
        (pb.TicketStatementQuery(statement_handle=b"q"), b"\x0a\x01q"),
        (pb.CommandPreparedStatementUpdate(prepared_statement_handle=b"h"), b"\x0a\x01h"),
        (pb.DoPutUpdateResult(record_count=-1), b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        (pb.DoPutPreparedStatementResult(prepared_statement_handle=b""), b"\x0a\x00"),
        (
            pb.ActionCancelQueryResult(result=pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED),
            b"\x08\x01",
        ),
        # field 1000 LEN -> tag varint (1000 << 3 | 2) = 8002 = 0xc2 0x3e
        (pb.CommandStatementIngest(options={"k": "v"}), b"\xc2\x3e\x06\x0a\x01k\x12\x01v"),
        (
            pb.CommandStatementIngest(
                table_definition_options=pb.CommandStatementIngest.TableDefinitionOptions(
                    if_not_exist=pb.CommandStatementIngest.TableDefinitionOptions.TABLE_NOT_EXIST_OPTION_CREATE,
                    if_exists=pb.CommandStatementIngest.TableDefinitionOptions.TABLE_EXISTS_OPTION_APPEND,
                ),
                table="t",
                schema="s",
                catalog="c",
                temporary=True,
                transaction_id=b"x",
            ),
            b"\x0a\x04\x08\x01\x10\x02\x12\x01t\x1a\x01s\x22\x01c\x28\x01\x32\x01x",
        ),
        # sfixed64, not a varint: tag (3 << 3 | 1) then eight little-endian bytes
        (fs.SessionOptionValue(int64_value=1), b"\x19" + struct.pack("<q", 1)),
        (fs.SessionOptionValue(double_value=1.5), b"\x21" + struct.pack("<d", 1.5)),
        (fs.SessionOptionValue(bool_value=False), b"\x10\x00"),
        (
            fs.SessionOptionValue(
                string_list_value=fs.SessionOptionValue.StringListValue(values=["a"])
            ),
            b"\x2a\x03\x0a\x01a",
        ),
        (
            fs.SetSessionOptionsRequest(
                session_options={"catalog": fs.SessionOptionValue(string_value="x")}
            ),
            b"\x0a\x0e\x0a\x07catalog\x12\x03\x0a\x01x",
        ),
        (
            fs.SetSessionOptionsResult(
                errors={
                    "x": fs.SetSessionOptionsResult.Error(
                        value=fs.SetSessionOptionsResult.INVALID_NAME
                    )
                }
            ),
            b"\x0a\x07\x0a\x01x\x12\x02\x08\x01",
        ),
        (fs.CloseSessionResult(status=fs.CloseSessionResult.CLOSED), b"\x08\x01"),
        (fs.CancelFlightInfoResult(status=fs.CANCEL_STATUS_NOT_CANCELLABLE), b"\x08\x03"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bytes) else "",
)
def test_wire_bytes(message, wire):
    assert message.SerializeToString(deterministic=True) == wire
    assert type(message).FromString(wire) == message


def test_cancel_flight_info_carries_a_flight_info():
    info = flight.FlightInfo(
        pa.schema([("x", pa.int32())]),
        flight.FlightDescriptor.for_command(b"cmd"),
        [flight.FlightEndpoint(b"ticket", [])],
        total_records=-1,
        total_bytes=-1,
    )
    raw = info.serialize()
    request = fs.CancelFlightInfoRequest.FromString(b"\x0a" + _varint(len(raw)) + raw)
    decoded = flight.FlightInfo.deserialize(request.info)
    assert decoded.descriptor.command == b"cmd"
    assert decoded.endpoints[0].ticket.ticket == b"ticket"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_enum_numbers_spot_check():
    assert pb.SqlInfo.Value("FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED") == 11
    assert pb.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED == 576
    assert pb.SQL_DB_SCHEMA_NAME_LENGTH == 552
    assert pb.XDBC_WVARCHAR == -9 and pb.XDBC_TIMESTAMP == 93
    assert pb.XDBC_SUBCODE_HOUR == pb.XDBC_SUBCODE_TIME_WITH_TIMEZONE == 4
    assert pb.XDBC_SUBCODE_INTERVAL_MINUTE_TO_SECOND == 113
    assert pb.SQL_CONVERT_VARCHAR == 19 and pb.SET_DEFAULT == 4
    assert fs.SetSessionOptionsResult.ERROR == 3


# --- reply schemas -------------------------------------------------------------


def test_schema_traps():
    assert PRIMARY_KEYS.names[-2:] == ["key_sequence", "key_name"]
    assert TABLES_WITH_SCHEMA.names == [*TABLES.names, "table_schema"]
    assert not TABLES_WITH_SCHEMA.field("table_schema").nullable
    assert FOREIGN_KEYS.field("update_rule").type == pa.uint8()

    value = SQL_INFO.field("value")
    assert not value.nullable and value.type.mode == "dense"
    assert value.type.type_codes == [int(c) for c in SqlInfoValueCode] == [0, 1, 2, 3, 4, 5]
    children = [value.type.field(i) for i in range(value.type.num_fields)]
    assert [c.name for c in children] == [
        "string_value",
        "bool_value",
        "bigint_value",
        "int32_bitmask",
        "string_list",
        "int32_to_int32_list_map",
    ]
    assert not any(c.nullable for c in children)
    assert children[4].type.value_field == pa.field("item", pa.utf8())
    convert_map = children[5].type
    assert convert_map.key_field == pa.field("key", pa.int32(), nullable=False)
    assert convert_map.item_field == pa.field("value", pa.list_(pa.field("item", pa.int32())))

    create_params = XDBC_TYPE_INFO.field("create_params")
    assert create_params.nullable
    assert create_params.type.value_field == pa.field("item", pa.utf8(), nullable=False)


def test_column_metadata_keys():
    assert ColumnMetadataKey.SCHEMA_NAME == "ARROW:FLIGHT:SQL:SCHEMA_NAME"
    assert ColumnMetadataKey.IS_SEARCHABLE == "ARROW:FLIGHT:SQL:IS_SEARCHABLE"
    assert all(key.startswith("ARROW:FLIGHT:SQL:") for key in ColumnMetadataKey)
    field = pa.field("x", pa.int32(), metadata={ColumnMetadataKey.REMARKS: "note"})
    assert field.metadata == {b"ARROW:FLIGHT:SQL:REMARKS": b"note"}


# --- SqlInfo ---------------------------------------------------------------------

# Value kind of every SqlInfo id, as the spec describes each one.
_SPEC_KIND: dict[SqlInfoValueCode, set[str]] = {
    SqlInfoValueCode.STRING_VALUE: {
        "FLIGHT_SQL_SERVER_NAME", "FLIGHT_SQL_SERVER_VERSION", "FLIGHT_SQL_SERVER_ARROW_VERSION",
        "FLIGHT_SQL_SERVER_SUBSTRAIT_MIN_VERSION", "FLIGHT_SQL_SERVER_SUBSTRAIT_MAX_VERSION",
        "SQL_IDENTIFIER_QUOTE_CHAR", "SQL_SEARCH_STRING_ESCAPE", "SQL_EXTRA_NAME_CHARACTERS",
        "SQL_SCHEMA_TERM", "SQL_PROCEDURE_TERM", "SQL_CATALOG_TERM",
    },
    SqlInfoValueCode.BOOL_VALUE: {
        "FLIGHT_SQL_SERVER_READ_ONLY", "FLIGHT_SQL_SERVER_SQL", "FLIGHT_SQL_SERVER_SUBSTRAIT",
        "FLIGHT_SQL_SERVER_CANCEL", "FLIGHT_SQL_SERVER_BULK_INGESTION",
        "FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED",
        "SQL_DDL_CATALOG", "SQL_DDL_SCHEMA", "SQL_DDL_TABLE", "SQL_ALL_TABLES_ARE_SELECTABLE",
        "SQL_SUPPORTS_COLUMN_ALIASING", "SQL_NULL_PLUS_NULL_IS_NULL",
        "SQL_SUPPORTS_TABLE_CORRELATION_NAMES", "SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES",
        "SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY", "SQL_SUPPORTS_ORDER_BY_UNRELATED",
        "SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE", "SQL_SUPPORTS_NON_NULLABLE_COLUMNS",
        "SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY", "SQL_CATALOG_AT_START",
        "SQL_SELECT_FOR_UPDATE_SUPPORTED", "SQL_STORED_PROCEDURES_SUPPORTED",
        "SQL_CORRELATED_SUBQUERIES_SUPPORTED", "SQL_MAX_ROW_SIZE_INCLUDES_BLOBS",
        "SQL_TRANSACTIONS_SUPPORTED", "SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT",
        "SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED", "SQL_BATCH_UPDATES_SUPPORTED",
        "SQL_SAVEPOINTS_SUPPORTED", "SQL_NAMED_PARAMETERS_SUPPORTED", "SQL_LOCATORS_UPDATE_COPY",
        "SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED",
    },
    SqlInfoValueCode.BIGINT_VALUE: {
        "SQL_MAX_BINARY_LITERAL_LENGTH", "SQL_MAX_CHAR_LITERAL_LENGTH",
        "SQL_MAX_COLUMN_NAME_LENGTH",
        "SQL_MAX_COLUMNS_IN_GROUP_BY", "SQL_MAX_COLUMNS_IN_INDEX", "SQL_MAX_COLUMNS_IN_ORDER_BY",
        "SQL_MAX_COLUMNS_IN_SELECT", "SQL_MAX_COLUMNS_IN_TABLE", "SQL_MAX_CONNECTIONS",
        "SQL_MAX_CURSOR_NAME_LENGTH", "SQL_MAX_INDEX_LENGTH", "SQL_DB_SCHEMA_NAME_LENGTH",
        "SQL_MAX_PROCEDURE_NAME_LENGTH", "SQL_MAX_CATALOG_NAME_LENGTH", "SQL_MAX_ROW_SIZE",
        "SQL_MAX_STATEMENT_LENGTH", "SQL_MAX_STATEMENTS", "SQL_MAX_TABLE_NAME_LENGTH",
        "SQL_MAX_TABLES_IN_SELECT", "SQL_MAX_USERNAME_LENGTH",
    },
    SqlInfoValueCode.INT32_BITMASK: {
        "FLIGHT_SQL_SERVER_TRANSACTION", "FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT",
        "FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT", "SQL_IDENTIFIER_CASE",
        "SQL_QUOTED_IDENTIFIER_CASE", "SQL_NULL_ORDERING", "SQL_SUPPORTED_GROUP_BY",
        "SQL_SUPPORTED_GRAMMAR", "SQL_ANSI92_SUPPORTED_LEVEL", "SQL_OUTER_JOINS_SUPPORT_LEVEL",
        "SQL_SCHEMAS_SUPPORTED_ACTIONS",
        "SQL_CATALOGS_SUPPORTED_ACTIONS", "SQL_SUPPORTED_POSITIONED_COMMANDS",
        "SQL_SUPPORTED_SUBQUERIES", "SQL_SUPPORTED_UNIONS", "SQL_DEFAULT_TRANSACTION_ISOLATION",
        "SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS", "SQL_SUPPORTED_RESULT_SET_TYPES",
        "SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED",
        "SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY",
        "SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE",
        "SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE",
    },
    SqlInfoValueCode.STRING_LIST: {
        "SQL_KEYWORDS", "SQL_NUMERIC_FUNCTIONS", "SQL_STRING_FUNCTIONS", "SQL_SYSTEM_FUNCTIONS",
        "SQL_DATETIME_FUNCTIONS",
    },
    SqlInfoValueCode.INT32_TO_INT32_LIST_MAP: {"SQL_SUPPORTS_CONVERT"},
}  # fmt: skip
_UNANSWERED = {
    pb.FLIGHT_SQL_SERVER_SUBSTRAIT_MIN_VERSION,
    pb.FLIGHT_SQL_SERVER_SUBSTRAIT_MAX_VERSION,
}


def _sql_info(requested):
    table = sql_info_table(requested, server_name="fw-test", server_version="9.9")
    table.validate(full=True)
    assert table.schema.equals(SQL_INFO, check_metadata=False)
    return table


def _answers(table) -> dict[int, tuple[int, object]]:
    values = table.column("value").combine_chunks()
    return {
        info_id: (values.type_codes[i].as_py(), values[i].as_py())
        for i, info_id in enumerate(table.column("info_name").to_pylist())
    }


def test_spec_kinds_cover_every_sql_info_id():
    named = set().union(*_SPEC_KIND.values())
    assert named == set(pb.SqlInfo.keys())


def test_sql_info_all_ids():
    table = _sql_info([])
    ids = table.column("info_name").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == KNOWN_IDS == set(pb.SqlInfo.values()) - _UNANSWERED
    answers = _answers(table)
    for code, names in _SPEC_KIND.items():
        for name in names:
            info_id = pb.SqlInfo.Value(name)
            if info_id in KNOWN_IDS:
                assert answers[info_id][0] == code, name


def test_sql_info_requested_subset_keeps_order_and_drops_unknown():
    requested = [pb.SQL_KEYWORDS, 424242, pb.FLIGHT_SQL_SERVER_NAME, pb.SQL_KEYWORDS, 10_000]
    table = _sql_info(requested)
    assert table.column("info_name").to_pylist() == [pb.SQL_KEYWORDS, pb.FLIGHT_SQL_SERVER_NAME]
    assert _sql_info([424242]).num_rows == 0


def test_sql_info_values():
    answers = {info_id: value for info_id, (_, value) in _answers(_sql_info([])).items()}
    assert answers[pb.FLIGHT_SQL_SERVER_NAME] == "fw-test"
    assert answers[pb.FLIGHT_SQL_SERVER_VERSION] == "9.9"
    assert answers[pb.FLIGHT_SQL_SERVER_ARROW_VERSION] == pa.__version__
    assert answers[pb.FLIGHT_SQL_SERVER_READ_ONLY] is True
    assert answers[pb.FLIGHT_SQL_SERVER_TRANSACTION] == pb.SQL_SUPPORTED_TRANSACTION_NONE
    assert answers[pb.SQL_OUTER_JOINS_SUPPORT_LEVEL] == pb.SQL_FULL_OUTER_JOINS
    assert answers[pb.SQL_SUPPORTED_UNIONS] == 0b11
    assert answers[pb.SQL_SUPPORTED_SUBQUERIES] == 0b1111
    assert answers[pb.SQL_SUPPORTED_RESULT_SET_TYPES] == 1 << pb.SQL_RESULT_SET_TYPE_FORWARD_ONLY
    assert {"SELECT", "FROM", "PIVOT"} <= set(answers[pb.SQL_KEYWORDS])
    assert "sqrt" in answers[pb.SQL_NUMERIC_FUNCTIONS]
    assert "upper" in answers[pb.SQL_STRING_FUNCTIONS]
    assert "date_trunc" in answers[pb.SQL_DATETIME_FUNCTIONS]
    assert "current_database" in answers[pb.SQL_SYSTEM_FUNCTIONS]

    convert = dict(answers[pb.SQL_SUPPORTS_CONVERT])
    assert set(convert) == set(pb.SqlSupportsConvert.values())
    assert set(convert[pb.SQL_CONVERT_VARCHAR]) == set(pb.SqlSupportsConvert.values())
    assert pb.SQL_CONVERT_TIMESTAMP in convert[pb.SQL_CONVERT_DATE]
    assert pb.SQL_CONVERT_INTEGER not in convert[pb.SQL_CONVERT_DATE]
    assert pb.SQL_CONVERT_INTEGER not in convert[pb.SQL_CONVERT_BINARY]


def test_sql_info_matches_duckdb_behaviour():
    answers = {info_id: value for info_id, (_, value) in _answers(_sql_info([])).items()}
    con = duckdb.connect()
    rows = "FROM (VALUES (1), (NULL), (2)) t(x)"
    assert con.sql(f"SELECT x {rows} ORDER BY x").fetchall()[-1] == (None,)
    assert con.sql(f"SELECT x {rows} ORDER BY x DESC").fetchall()[-1] == (None,)
    assert answers[pb.SQL_NULL_ORDERING] == pb.SQL_NULLS_SORTED_AT_END
    assert con.sql('SELECT "A" FROM (SELECT 1 AS a)').fetchall() == [(1,)]
    assert answers[pb.SQL_QUOTED_IDENTIFIER_CASE] == pb.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE
    assert con.sql("SELECT 'a' || NULL").fetchall() == [(None,)]
    assert answers[pb.SQL_NULL_PLUS_NULL_IS_NULL] is True
    assert con.sql(f"SELECT 1 AS a{answers[pb.SQL_EXTRA_NAME_CHARACTERS]}b").columns == ["a$b"]


def test_sql_info_survives_ipc():
    table = _sql_info([])
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert ipc.open_stream(sink.getvalue()).read_all().equals(table)


# --- XDBC type info ----------------------------------------------------------------


def test_xdbc_type_info_all_types():
    table = xdbc_type_info_table(None)
    table.validate(full=True)
    assert table.schema.equals(XDBC_TYPE_INFO, check_metadata=False)
    rows = table.to_pylist()
    keys = [(r["data_type"], r["type_name"]) for r in rows]
    assert keys == sorted(keys)
    assert {"BOOLEAN", "BIGINT", "UBIGINT", "DECIMAL", "VARCHAR", "BLOB", "DATE", "INTERVAL"} <= {
        r["type_name"] for r in rows
    }
    codes = set(pb.XdbcDataType.values())
    for row in rows:
        assert row["data_type"] in codes and row["sql_data_type"] in codes
        if row["sql_data_type"] in (pb.XDBC_DATETIME, pb.XDBC_INTERVAL):
            assert row["datetime_subcode"] in set(pb.XdbcDatetimeSubcode.values())
        else:
            assert row["datetime_subcode"] is None


def test_xdbc_type_info_filter():
    assert xdbc_type_info_table(pb.XDBC_BIGINT).column("type_name").to_pylist() == [
        "BIGINT",
        "UBIGINT",
    ]
    timestamps = xdbc_type_info_table(pb.XDBC_TIMESTAMP).to_pylist()
    assert [r["datetime_subcode"] for r in timestamps] == [
        pb.XDBC_SUBCODE_TIMESTAMP,
        pb.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE,
    ]
    empty = xdbc_type_info_table(pb.XDBC_WVARCHAR)
    assert empty.num_rows == 0
    assert empty.schema.equals(XDBC_TYPE_INFO, check_metadata=False)


def test_xdbc_names_and_literals_are_duckdb_syntax():
    samples = {
        "VARCHAR": "abc",
        "BLOB": "01",
        "DATE": "2024-01-02",
        "TIME": "01:02:03",
        "TIMESTAMP": "2024-01-02 03:04:05",
        "TIMESTAMP WITH TIME ZONE": "2024-01-02 03:04:05+00",
        "INTERVAL": "1 day",
    }
    con = duckdb.connect()
    for row in xdbc_type_info_table(None).to_pylist():
        name = row["type_name"]
        if row["data_type"] == pb.XDBC_UNKNOWN_TYPE:
            continue
        if name != "DECIMAL":
            assert con.sql(f"SELECT typeof(CAST(NULL AS {name}))").fetchall() == [(name,)]
        if name in samples:
            literal = f"{row['literal_prefix']}{samples[name]}{row['literal_suffix']}"
            assert con.sql(f"SELECT typeof({literal})").fetchall() == [(name,)]
