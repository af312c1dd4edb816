"""Fixed Arrow schemas of the Flight SQL metadata replies, and column metadata keys.

Clients compare these schemas against what GetSchema/DoGet return, so names,
order, nullability and nested child fields must match the reference
implementations (Arrow C++, Java and Go agree on every schema here). Where the
prose in FlightSql.proto differs from them, the implementations win:

* PRIMARY_KEYS puts ``key_sequence`` before ``key_name``.
* SQL_INFO's union children are all non-nullable; its lists use the default
  ``item`` child name and the map the default ``entries``/``key``/``value``.
* XDBC_TYPE_INFO's ``create_params`` is a nullable list of non-nullable items.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import pyarrow as pa

CATALOGS = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])

DB_SCHEMAS = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8(), nullable=False),
    ]
)

TABLES = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("table_type", pa.utf8(), nullable=False),
    ]
)

# CommandGetTables with include_schema=true: each row carries the table's Arrow
# schema serialized as an IPC message.
TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), nullable=False))

TABLE_TYPES = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])

PRIMARY_KEYS = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("column_name", pa.utf8(), nullable=False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        pa.field("key_name", pa.utf8()),
    ]
)

# Shared by CommandGetExportedKeys, CommandGetImportedKeys and CommandGetCrossReference.
# update_rule/delete_rule hold flight_sql_pb2.UpdateDeleteRules values.
FOREIGN_KEYS = pa.schema(
    [
        pa.field("pk_catalog_name", pa.utf8()),
        pa.field("pk_db_schema_name", pa.utf8()),
        pa.field("pk_table_name", pa.utf8(), nullable=False),
        pa.field("pk_column_name", pa.utf8(), nullable=False),
        pa.field("fk_catalog_name", pa.utf8()),
        pa.field("fk_db_schema_name", pa.utf8()),
        pa.field("fk_table_name", pa.utf8(), nullable=False),
        pa.field("fk_column_name", pa.utf8(), nullable=False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        pa.field("fk_key_name", pa.utf8()),
        pa.field("pk_key_name", pa.utf8()),
        pa.field("update_rule", pa.uint8(), nullable=False),
        pa.field("delete_rule", pa.uint8(), nullable=False),
    ]
)


class SqlInfoValueCode(IntEnum):
    """Type codes of the SQL_INFO ``value`` union; equal to each child's index."""

    STRING_VALUE = 0
    BOOL_VALUE = 1
    BIGINT_VALUE = 2
    INT32_BITMASK = 3
    STRING_LIST = 4
    INT32_TO_INT32_LIST_MAP = 5


SQL_INFO_VALUE_FIELDS = (
    pa.field("string_value", pa.utf8(), nullable=False),
    pa.field("bool_value", pa.bool_(), nullable=False),
    pa.field("bigint_value", pa.int64(), nullable=False),
    pa.field("int32_bitmask", pa.int32(), nullable=False),
    pa.field("string_list", pa.list_(pa.utf8()), nullable=False),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())), nullable=False),
)

SQL_INFO_VALUE_TYPE = pa.dense_union(
    list(SQL_INFO_VALUE_FIELDS), [int(c) for c in SqlInfoValueCode]
)

SQL_INFO = pa.schema(
    [
        pa.field("info_name", pa.uint32(), nullable=False),
        pa.field("value", SQL_INFO_VALUE_TYPE, nullable=False),
    ]
)

XDBC_TYPE_INFO = pa.schema(
    [
        pa.field("type_name", pa.utf8(), nullable=False),
        pa.field("data_type", pa.int32(), nullable=False),
        pa.field("column_size", pa.int32()),
        pa.field("literal_prefix", pa.utf8()),
        pa.field("literal_suffix", pa.utf8()),
        pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
        pa.field("nullable", pa.int32(), nullable=False),
        pa.field("case_sensitive", pa.bool_(), nullable=False),
        pa.field("searchable", pa.int32(), nullable=False),
        pa.field("unsigned_attribute", pa.bool_()),
        pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
        pa.field("auto_increment", pa.bool_()),
        pa.field("local_type_name", pa.utf8()),
        pa.field("minimum_scale", pa.int32()),
        pa.field("maximum_scale", pa.int32()),
        pa.field("sql_data_type", pa.int32(), nullable=False),
        pa.field("datetime_subcode", pa.int32()),
        pa.field("num_prec_radix", pa.int32()),
        pa.field("interval_precision", pa.int32()),
    ]
)


class ColumnMetadataKey(StrEnum):
    """Field-metadata keys describing result columns (GetSchema, table_schema, etc.).

    Boolean keys take the strings "1"/"0"; PRECISION and SCALE take decimal digits.
    """

    CATALOG_NAME = "ARROW:FLIGHT:SQL:CATALOG_NAME"
    # The key Arrow C++, Java and Go read and write. The proto's prose calls it
    # DB_SCHEMA_NAME, and a few other implementations follow the prose.
    SCHEMA_NAME = "ARROW:FLIGHT:SQL:SCHEMA_NAME"
    DB_SCHEMA_NAME = "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME"
    TABLE_NAME = "ARROW:FLIGHT:SQL:TABLE_NAME"
    TYPE_NAME = "ARROW:FLIGHT:SQL:TYPE_NAME"
    PRECISION = "ARROW:FLIGHT:SQL:PRECISION"
    SCALE = "ARROW:FLIGHT:SQL:SCALE"
    IS_AUTO_INCREMENT = "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT"
    IS_CASE_SENSITIVE = "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"
    IS_READ_ONLY = "ARROW:FLIGHT:SQL:IS_READ_ONLY"
    IS_SEARCHABLE = "ARROW:FLIGHT:SQL:IS_SEARCHABLE"
    REMARKS = "ARROW:FLIGHT:SQL:REMARKS"
