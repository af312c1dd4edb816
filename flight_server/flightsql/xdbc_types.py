"""CommandGetXdbcTypeInfo answers: the DuckDB types this server can return.

Codes follow the XdbcDataType enum (JDBC/ODBC type codes). For the temporal
types data_type is the concise code (DATE/TIME/TIMESTAMP) while sql_data_type
is the verbose XDBC_DATETIME/XDBC_INTERVAL plus a datetime_subcode, as ODBC
does. Nested types have no code in the enum and are reported as
XDBC_UNKNOWN_TYPE; UUID travels as text, so it is a fixed 36-character CHAR.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa

from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.schemas import XDBC_TYPE_INFO


@dataclass(frozen=True)
class _TypeInfo:
    """One XDBC_TYPE_INFO row; fields in schema order."""

    type_name: str
    data_type: int
    column_size: int | None
    literal_prefix: str | None
    literal_suffix: str | None
    create_params: tuple[str, ...] | None
    nullable: int
    case_sensitive: bool
    searchable: int
    unsigned_attribute: bool | None
    fixed_prec_scale: bool
    auto_increment: bool | None
    local_type_name: str | None
    minimum_scale: int | None
    maximum_scale: int | None
    sql_data_type: int
    datetime_subcode: int | None
    num_prec_radix: int | None
    interval_precision: int | None


def _numeric(
    name: str,
    code: int,
    size: int,
    *,
    radix: int,
    unsigned: bool = False,
    scale: tuple[int, int] | None = None,
    create_params: tuple[str, ...] | None = None,
) -> _TypeInfo:
    """Exact numerics give size in decimal digits (radix 10), approximate ones in bits (radix 2)."""
    return _TypeInfo(
        type_name=name,
        data_type=code,
        column_size=size,
        literal_prefix=None,
        literal_suffix=None,
        create_params=create_params,
        nullable=pb.NULLABILITY_NULLABLE,
        case_sensitive=False,
        searchable=pb.SEARCHABLE_BASIC,
        unsigned_attribute=unsigned,
        fixed_prec_scale=False,
        auto_increment=False,
        local_type_name=None,
        minimum_scale=scale[0] if scale else None,
        maximum_scale=scale[1] if scale else None,
        sql_data_type=code,
        datetime_subcode=None,
        num_prec_radix=radix,
        interval_precision=None,
    )


def _integer(name: str, code: int, digits: int, *, unsigned: bool = False) -> _TypeInfo:
    return _numeric(name, code, digits, radix=10, unsigned=unsigned, scale=(0, 0))


def _other(
    name: str,
    code: int,
    size: int | None = None,
    *,
    quote: tuple[str, str] | None = None,
    case_sensitive: bool = False,
    searchable: int = pb.SEARCHABLE_BASIC,
    sql_data_type: int | None = None,
    subcode: int | None = None,
    fractional_digits: int | None = None,
) -> _TypeInfo:
    """Non-numeric types; ``quote`` is the (prefix, suffix) around a literal."""
    return _TypeInfo(
        type_name=name,
        data_type=code,
        column_size=size,
        literal_prefix=quote[0] if quote else None,
        literal_suffix=quote[1] if quote else None,
        create_params=None,
        nullable=pb.NULLABILITY_NULLABLE,
        case_sensitive=case_sensitive,
        searchable=searchable,
        unsigned_attribute=None,
        fixed_prec_scale=False,
        auto_increment=None,
        local_type_name=None,
        minimum_scale=fractional_digits,
        maximum_scale=fractional_digits,
        sql_data_type=code if sql_data_type is None else sql_data_type,
        datetime_subcode=subcode,
        num_prec_radix=None,
        interval_precision=None,
    )


def _temporal(
    name: str,
    code: int,
    subcode: int,
    size: int,
    fractional: int | None,
    *,
    keyword: str | None = None,
) -> _TypeInfo:
    """Size is the text form's length, e.g. 26 for 'yyyy-mm-dd hh:mm:ss.ffffff'.

    Literals are typed strings such as DATE '2024-01-02'; ``keyword`` overrides the name.
    """
    return _other(
        name,
        code,
        size,
        quote=(f"{keyword or name} '", "'"),
        sql_data_type=pb.XDBC_DATETIME,
        subcode=subcode,
        fractional_digits=fractional,
    )


_TYPES: tuple[_TypeInfo, ...] = tuple(
    sorted(
        (
            _other("BOOLEAN", pb.XDBC_BIT, 1),
            _integer("TINYINT", pb.XDBC_TINYINT, 3),
            _integer("SMALLINT", pb.XDBC_SMALLINT, 5),
            _integer("INTEGER", pb.XDBC_INTEGER, 10),
            _integer("BIGINT", pb.XDBC_BIGINT, 19),
            _integer("UTINYINT", pb.XDBC_TINYINT, 3, unsigned=True),
            _integer("USMALLINT", pb.XDBC_SMALLINT, 5, unsigned=True),
            _integer("UINTEGER", pb.XDBC_INTEGER, 10, unsigned=True),
            _integer("UBIGINT", pb.XDBC_BIGINT, 20, unsigned=True),
            _numeric("FLOAT", pb.XDBC_REAL, 24, radix=2),
            _numeric("DOUBLE", pb.XDBC_DOUBLE, 53, radix=2),
            _numeric(
                "DECIMAL",
                pb.XDBC_DECIMAL,
                38,
                radix=10,
                scale=(0, 38),
                create_params=("precision", "scale"),
            ),
            # DuckDB strings have no declared length limit.
            _other(
                "VARCHAR",
                pb.XDBC_VARCHAR,
                quote=("'", "'"),
                case_sensitive=True,
                searchable=pb.SEARCHABLE_FULL,
            ),
            _other("UUID", pb.XDBC_CHAR, 36, quote=("'", "'")),
            _other("BLOB", pb.XDBC_VARBINARY, quote=("X'", "'")),
            _temporal("DATE", pb.XDBC_DATE, pb.XDBC_SUBCODE_DATE, 10, None),
            _temporal("TIME", pb.XDBC_TIME, pb.XDBC_SUBCODE_TIME, 15, 6),
            _temporal("TIMESTAMP", pb.XDBC_TIMESTAMP, pb.XDBC_SUBCODE_TIMESTAMP, 26, 6),
            _temporal(
                "TIMESTAMP WITH TIME ZONE",
                pb.XDBC_TIMESTAMP,
                pb.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE,
                32,
                6,
                keyword="TIMESTAMPTZ",
            ),
            # One DuckDB INTERVAL mixes months, days and microseconds: no single
            # ODBC interval subtype fits.
            _other(
                "INTERVAL",
                pb.XDBC_INTERVAL,
                quote=("INTERVAL '", "'"),
                sql_data_type=pb.XDBC_INTERVAL,
                subcode=pb.XDBC_SUBCODE_UNKNOWN,
            ),
            _other("LIST", pb.XDBC_UNKNOWN_TYPE),
            _other("ARRAY", pb.XDBC_UNKNOWN_TYPE),
            _other("STRUCT", pb.XDBC_UNKNOWN_TYPE),
            _other("MAP", pb.XDBC_UNKNOWN_TYPE),
        ),
        key=lambda info: (info.data_type, info.type_name),
    )
)


def xdbc_type_info_table(data_type: int | None) -> pa.Table:
    """Rows of XDBC_TYPE_INFO ordered by data_type then type_name, optionally one code only."""
    rows = [asdict(t) for t in _TYPES if data_type is None or t.data_type == data_type]
    return pa.Table.from_pylist(rows, schema=XDBC_TYPE_INFO)
