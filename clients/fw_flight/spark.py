"""A Spark 4 Python data source for fw-flight-sql: one Spark partition per Flight endpoint.

Installed by ``pip install 'fw-flight-sql[spark]'`` (pyspark is imported only here, so the
rest of ``fw_flight`` works without it)::

    from fw_flight.spark import FlightSqlDataSource
    spark.dataSource.register(FlightSqlDataSource)
    df = (spark.read.format("fw-flight-sql").option("uri", "grpc://host:32010")
          .option("token", TOKEN).load("neuro.proj1.files"))       # or .option("query", sql)

The driver asks the server for the FlightInfo (a plain Flight path for a table, Flight SQL's
CommandStatementQuery for SQL); each executor reads its endpoint's ticket with pyarrow.flight
and hands Spark the Arrow batches as they arrive, cast to the exact Spark schema.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
from pyspark.sql.datasource import (
    DataSource,
    DataSourceReader,
    EqualNullSafe,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    InputPartition,
    IsNotNull,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Not,
    StringContains,
    StringEndsWith,
    StringStartsWith,
)
from pyspark.sql.pandas.types import from_arrow_type, to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    IntegerType,
    IntegralType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from fw_flight.commands import statement_descriptor

_REUSE_CONNECTION = "arrow-flight-reuse-connection://?"
_NAME_PART = re.compile(r'"(?:[^"]|"")*"|[^."]+')
_TRUE = {"true", "1", "yes"}


class FlightSqlDataSource(DataSource):
    """``spark.read.format("fw-flight-sql")``: a table (``load("catalog.schema.table")``) or a
    query (``option("query", sql)``) from an fw-flight-sql server.

    Options: ``uri`` (required), ``token`` or ``username``/``password``, ``tls_root_certs``
    (a PEM file's path, read on the driver), ``catalog``/``schema`` (defaults for a table
    name with fewer parts), ``pushFilters`` (``true`` to push Spark's filters into the query;
    also set ``spark.sql.python.filterPushdown.enabled``).
    """

    @classmethod
    def name(cls) -> str:
        return "fw-flight-sql"

    def schema(self) -> StructType:
        source = _Source.from_options(self.options)
        client, call = source.server.connect()
        with client:
            result = client.get_schema(source.descriptor(), call)
        return spark_schema(result.schema)

    def reader(self, schema: StructType) -> DataSourceReader:
        source = _Source.from_options(self.options)
        if self.options.get("pushFilters", "false").lower() in _TRUE:
            return _FilteringReader(source, schema)
        return _Reader(source, schema)


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of an Arrow schema, exactly: decimals keep precision and scale,
    zoned timestamps are ``timestamp`` and naive ones ``timestamp_ntz``."""
    return StructType([_spark_field(f) for f in schema])


def _spark_field(arrow_field: pa.Field) -> StructField:
    return StructField(arrow_field.name, _spark_type(arrow_field.type), arrow_field.nullable)


def _spark_type(arrow_type: pa.DataType) -> DataType:
    """pyspark's own mapping, plus the Arrow types DuckDB sends that it does not take."""
    types = pa.types
    if types.is_struct(arrow_type):
        return StructType([_spark_field(f) for f in arrow_type])
    lists = (types.is_list, types.is_large_list, types.is_fixed_size_list, types.is_list_view)
    if any(is_list(arrow_type) for is_list in lists):
        return ArrayType(_spark_type(arrow_type.value_type), arrow_type.value_field.nullable)
    if types.is_map(arrow_type):
        value = _spark_type(arrow_type.item_type)
        return MapType(_spark_type(arrow_type.key_type), value, arrow_type.item_field.nullable)
    if types.is_dictionary(arrow_type):
        return _spark_type(arrow_type.value_type)
    if types.is_string_view(arrow_type):
        return StringType()
    if types.is_binary_view(arrow_type):
        return BinaryType()
    unsigned = {8: ShortType(), 16: IntegerType(), 32: LongType(), 64: DecimalType(20, 0)}
    if types.is_unsigned_integer(arrow_type):
        return unsigned[arrow_type.bit_width]
    return from_arrow_type(arrow_type, prefer_timestamp_ntz=True)


@dataclass(frozen=True)
class _Server:
    """Where the server is and how to authenticate; picklable, so executors connect too."""

    uri: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_root_certs: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> _Server:
        uri = options.get("uri")
        if not uri:
            raise ValueError('fw-flight-sql needs .option("uri", "grpc://host:32010")')
        certs = options.get("tls_root_certs")
        roots = Path(certs).read_bytes() if certs else None
        return cls(
            uri, options.get("token"), options.get("username"), options.get("password"), roots
        )

    def connect(
        self, uri: str | None = None
    ) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
        """A client for ``uri`` (an endpoint's location; the server's by default), authenticated."""
        kwargs = {"tls_root_certs": self.tls_root_certs} if self.tls_root_certs else {}
        client = flight.FlightClient(uri or self.uri, **kwargs)
        headers = []
        if self.token:
            headers.append((b"authorization", f"Bearer {self.token}".encode()))
        elif self.username is not None:
            headers.append(client.authenticate_basic_token(self.username, self.password or ""))
        return client, flight.FlightCallOptions(headers=headers)


@dataclass(frozen=True)
class _Source:
    """What to read: a table's ``[catalog, schema, table]`` path, or a SQL query."""

    server: _Server
    table: tuple[str, ...] | None
    query: str | None

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> _Source:
        server = _Server.from_options(options)
        query, path = options.get("query"), options.get("path")
        if bool(query) == bool(path):
            raise ValueError('fw-flight-sql reads either load("catalog.schema.table") or a query')
        if query:
            return cls(server, None, query)
        parts = [_unquote(part) for part in _NAME_PART.findall(path)]
        defaults = [options.get("catalog"), options.get("schema")][: max(0, 3 - len(parts))]
        table = tuple([*(d for d in defaults if d), *parts])
        if len(table) != 3:
            raise ValueError(
                f"table {path!r} needs catalog.schema.table (or the catalog and schema options)"
            )
        return cls(server, table, None)

    def descriptor(self, where: Sequence[str] = ()) -> flight.FlightDescriptor:
        """A table with no filters is a Flight path (one endpoint per group of its files);
        anything else is SQL."""
        if self.table is not None and not where:
            return flight.FlightDescriptor.for_path(*self.table)
        if self.table is not None:
            sql = f"SELECT * FROM {'.'.join(quote(part) for part in self.table)}"
        else:
            sql = f"SELECT * FROM ({self.query}) AS fw_spark_query" if where else self.query
        if where:
            sql += " WHERE " + " AND ".join(f"({condition})" for condition in where)
        return statement_descriptor(sql)


@dataclass
class _Endpoint(InputPartition):
    """One Spark partition: an endpoint's ticket and where to fetch it."""

    ticket: bytes
    locations: tuple[str, ...]


class _Reader(DataSourceReader):
    """Partitions are the FlightInfo's endpoints; each reads its ticket as Arrow batches."""

    def __init__(self, source: _Source, schema: StructType) -> None:
        self.source = source
        self.schema = schema
        self.where: list[str] = []

    def partitions(self) -> list[InputPartition]:
        client, call = self.source.server.connect()
        with client:
            info = client.get_flight_info(self.source.descriptor(self.where), call)
        return [
            _Endpoint(
                endpoint.ticket.ticket,
                tuple(location.uri.decode() for location in endpoint.locations),
            )
            for endpoint in info.endpoints
        ]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, _Endpoint):
            return  # no endpoints: Spark still reads one empty partition
        # Spark checks each batch against its own Arrow form of the schema (timestamps in UTC).
        target = to_arrow_schema(self.schema, timezone="UTC")
        client, call = self.source.server.connect(_location(partition.locations))
        with client:
            for chunk in client.do_get(flight.Ticket(partition.ticket), call):
                yield chunk.data.cast(target)


class _FilteringReader(_Reader):
    """A reader that turns the filters it can state exactly in DuckDB SQL into the query."""

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:
        types = {f.name: f.dataType for f in self.schema.fields}
        for spark_filter in filters:
            condition = _condition(spark_filter, types)
            if condition is None:
                yield spark_filter  # Spark evaluates it after the scan
            else:
                self.where.append(condition)


def _location(locations: Sequence[str]) -> str | None:
    """The endpoint's first location, or the server's own when it names none."""
    for uri in locations:
        if uri != _REUSE_CONNECTION:
            return uri
    return None


def _condition(spark_filter: Filter, types: Mapping[str, DataType]) -> str | None:
    """DuckDB SQL meaning exactly what ``spark_filter`` means, or None when not sure."""
    if isinstance(spark_filter, Not):
        inner = _condition(spark_filter.child, types)
        return None if inner is None else f"NOT ({inner})"
    attribute = spark_filter.attribute
    if len(attribute) != 1 or attribute[0] not in types:
        return None  # a nested field: Spark filters it
    column, data_type = quote(attribute[0]), types[attribute[0]]
    if isinstance(spark_filter, IsNull):
        return f"{column} IS NULL"
    if isinstance(spark_filter, IsNotNull):
        return f"{column} IS NOT NULL"
    if isinstance(spark_filter, In):
        values = [_literal(value, data_type) for value in spark_filter.value]
        if not values or None in values:
            return None
        return f"{column} IN ({', '.join(values)})"
    value = _literal(spark_filter.value, data_type)
    if value is None:
        return None
    operators = {
        EqualTo: "=",
        EqualNullSafe: "IS NOT DISTINCT FROM",
        GreaterThan: ">",
        GreaterThanOrEqual: ">=",
        LessThan: "<",
        LessThanOrEqual: "<=",
    }
    functions = {
        StringStartsWith: "starts_with",
        StringEndsWith: "suffix",
        StringContains: "contains",
    }
    if type(spark_filter) in operators:
        return f"{column} {operators[type(spark_filter)]} {value}"
    if type(spark_filter) in functions and isinstance(data_type, StringType):
        return f"{functions[type(spark_filter)]}({column}, {value})"
    return None


def _literal(value: object, data_type: DataType) -> str | None:
    """A DuckDB literal for a Spark filter value on a column of ``data_type``; None for the
    types whose comparison could differ (floating point, binary, nested, mixed zones)."""
    if isinstance(data_type, BooleanType) and isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, bool):
        return None
    if isinstance(data_type, IntegralType | DecimalType) and isinstance(value, int):
        return str(value)
    if isinstance(data_type, DecimalType) and isinstance(value, decimal.Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(data_type, StringType) and isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if isinstance(data_type, TimestampType) and value.tzinfo is not None:
            return f"TIMESTAMPTZ '{value.astimezone(dt.UTC).isoformat()}'"
        if isinstance(data_type, TimestampNTZType) and value.tzinfo is None:
            return f"TIMESTAMP '{value.isoformat()}'"
        return None
    if isinstance(data_type, DateType) and isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return None


def quote(name: str) -> str:
    """A SQL identifier for any name, dots and quotes included."""
    return '"' + name.replace('"', '""') + '"'


def _unquote(part: str) -> str:
    if part.startswith('"'):
        return part[1:-1].replace('""', '"')
    return part
