"""Dask DataFrames over fw-flight-sql: one partition per Flight endpoint, or per run of records.

Installed by ``pip install 'fw-flight-sql[dask]'``. Partitions are read on the workers, each
over its own Flight connection; dtypes come from the Arrow schema as ``pandas.ArrowDtype``,
so integers with nulls, decimals, lists and zoned timestamps stay exactly what the server
sent.

    ddf = read_table("grpc://host:32010", "local.proj1.acquisitions", token=TOKEN)
    ddf = read_table(uri, "local.proj1.acquisitions", filters=[("modality", "==", "MR")],
                     records="parents.session")
    ddf.groupby("parents.session").apply(per_session)  # no shuffle: sessions are never split
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight

from fw_flight.commands import statement_descriptor

#: Partitions of a ``records=`` read when the server offers fewer endpoints than this.
DEFAULT_RECORD_PARTITIONS = 4
#: ``filters`` operators, as ``dd.read_parquet`` spells them, and their SQL.
_OPERATORS = {
    "==": "=",
    "=": "=",
    "!=": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "in": "IN",
    "not in": "NOT IN",
}

Filter = tuple[str, str, Any]


@dataclass(frozen=True)
class _Connection:
    """Where and how a worker reads: shipped to every task (a bearer, never a password)."""

    uri: str
    headers: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)
    tls_root_certs: str | None = field(default=None, repr=False)

    def client(self, uri: str | None = None) -> flight.FlightClient:
        kwargs = {"tls_root_certs": self.tls_root_certs} if self.tls_root_certs else {}
        return flight.FlightClient(uri or self.uri, **kwargs)

    def options(self) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(headers=list(self.headers))

    def info(self, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        with self.client() as client:
            return client.get_flight_info(descriptor, self.options())

    def read(self, endpoint: flight.FlightEndpoint) -> pa.Table:
        """One endpoint's stream, from its first location (the server spreads them)."""
        location = next(
            (
                loc.uri.decode()
                for loc in endpoint.locations
                if not loc.uri.startswith(b"arrow-flight-reuse-connection:")
            ),
            None,
        )
        with self.client(location) as client:
            return client.do_get(endpoint.ticket, self.options()).read_all()


def _connection(
    uri: str,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls_root_certs: str | None = None,
) -> _Connection:
    """Authenticate once, on the client: workers get the bearer, not the password."""
    anonymous = _Connection(uri, tls_root_certs=tls_root_certs)
    if token:
        return _Connection(uri, ((b"authorization", f"Bearer {token}".encode()),), tls_root_certs)
    if username is not None:
        with anonymous.client() as client:
            header = client.authenticate_basic_token(username, password or "")
        return _Connection(uri, (header,), tls_root_certs)
    return anonymous


def read_table(
    uri: str,
    table: str,
    columns: Sequence[str] | None = None,
    filters: Sequence[Filter] | None = None,
    *,
    records: str | None = None,
    npartitions: int | None = None,
    **auth: Any,
) -> dd.DataFrame:
    """``catalog.schema.table`` as a Dask DataFrame.

    With neither ``columns`` nor ``filters`` this is the plain Flight path descriptor: the
    server's balanced groups of files are the partitions. Otherwise it is a SQL query (which
    the server may split likewise; hive partition filters prune whole files). ``records``:
    see :func:`read_sql`.
    """
    parts = table.split(".")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected catalog.schema.table, got {table!r}")
    connection = _connection(uri, **auth)
    if columns is None and not filters and records is None:
        info = connection.info(flight.FlightDescriptor.for_path(*parts))
        return _from_endpoints(connection, info)
    projection = ", ".join(_quote(c) for c in columns) if columns is not None else "*"
    sql = f"SELECT {projection} FROM {'.'.join(_quote(p) for p in parts)}"
    if filters:  # in the table's own WHERE, so the query stays one the server splits
        sql += f" WHERE {_where(filters)}"
    return _read_sql(connection, sql, records, npartitions)


def read_sql(
    uri: str,
    sql: str,
    filters: Sequence[Filter] | None = None,
    *,
    records: str | None = None,
    npartitions: int | None = None,
    **auth: Any,
) -> dd.DataFrame:
    """A query's result as a Dask DataFrame, one partition per endpoint the server returns.

    ``filters`` (``[("modality", "==", "MR"), ...]``, all of them must hold) go into the query.
    ``records="parents.session"`` makes partitions hold whole records: the key becomes the
    index, with known divisions, so ``groupby(key).apply`` and ``map_partitions`` run per
    record without a shuffle. Rows whose key is NULL belong to no record and are left out.
    ``npartitions`` (records only) defaults to the server's endpoint count, at least 4.
    Auth keywords: ``token``, or ``username`` and ``password``; ``tls_root_certs`` (PEM).
    """
    if filters:
        sql = f"SELECT * FROM ({sql}) AS q WHERE {_where(filters)}"
    return _read_sql(_connection(uri, **auth), sql, records, npartitions)


def _read_sql(
    connection: _Connection,
    sql: str,
    records: str | None,
    npartitions: int | None,
) -> dd.DataFrame:
    info = connection.info(statement_descriptor(sql))
    if records is None:
        return _from_endpoints(connection, info)
    return _from_records(connection, sql, info, records, npartitions)


def _from_endpoints(connection: _Connection, info: flight.FlightInfo) -> dd.DataFrame:
    meta = _pandas(info.schema.empty_table())
    if not info.endpoints:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(
        _EndpointPart(connection),
        [endpoint.serialize() for endpoint in info.endpoints],
        meta=meta,
        enforce_metadata=False,
        label="fw-flight-endpoint",
    )


def _from_records(
    connection: _Connection,
    sql: str,
    info: flight.FlightInfo,
    key: str,
    npartitions: int | None,
) -> dd.DataFrame:
    """One SQL query per contiguous range of keys, ranges balanced by row count."""
    if key not in info.schema.names:
        raise ValueError(f"records key {key!r} is not a column of the result")
    column = _quote(key)
    counts = _read_all(
        connection,
        f"SELECT {column} AS k, count(*) AS n FROM ({sql}) AS q"
        f" WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    wanted = npartitions or max(len(info.endpoints), DEFAULT_RECORD_PARTITIONS)
    ranges = _balanced_ranges(counts["k"].to_pylist(), counts["n"].to_pylist(), wanted)
    meta = _pandas(info.schema.empty_table()).set_index(key)
    if not ranges:
        return dd.from_pandas(meta, npartitions=1)
    queries = []
    for i, (low, high) in enumerate(ranges):
        upper = "<=" if i == len(ranges) - 1 else "<"
        queries.append(
            f"SELECT * FROM ({sql}) AS q WHERE {column} >= {_literal(low)}"
            f" AND {column} {upper} {_literal(high)} ORDER BY {column}"
        )
    divisions = [low for low, _ in ranges] + [ranges[-1][1]]
    return dd.from_map(
        _QueryPart(connection, key),
        queries,
        meta=meta,
        divisions=divisions,
        enforce_metadata=False,
        label="fw-flight-records",
    )


def _balanced_ranges(keys: list[Any], counts: list[int], wanted: int) -> list[tuple[Any, Any]]:
    """At most ``wanted`` runs of sorted ``keys`` with near-equal row totals, as (first, last).

    A partition ends at the first key that brings the running total to its share, so no run
    is empty and a record's rows are never split.
    """
    total = sum(counts)
    ranges: list[tuple[Any, Any]] = []
    start = 0
    running = 0
    for i, count in enumerate(counts):
        running += count
        share = total * (len(ranges) + 1) / wanted
        if running >= share or i == len(keys) - 1:
            ranges.append((keys[start], keys[i]))
            start = i + 1
    # The last run's upper bound is its own last key; the others end before the next run.
    return [
        (low, ranges[j + 1][0] if j + 1 < len(ranges) else high)
        for j, (low, high) in enumerate(ranges)
    ]


@dataclass(frozen=True)
class _EndpointPart:
    """A Dask task: read one endpoint (a serialized ``FlightEndpoint``) into pandas."""

    connection: _Connection

    def __call__(self, endpoint: bytes) -> pd.DataFrame:
        return _pandas(self.connection.read(flight.FlightEndpoint.deserialize(endpoint)))


@dataclass(frozen=True)
class _QueryPart:
    """A Dask task: run one range query (all its endpoints), indexed by the records key."""

    connection: _Connection
    key: str

    def __call__(self, sql: str) -> pd.DataFrame:
        return _pandas(_read_all(self.connection, sql)).set_index(self.key)


def _read_all(connection: _Connection, sql: str) -> pa.Table:
    info = connection.info(statement_descriptor(sql))
    tables = [connection.read(endpoint) for endpoint in info.endpoints]
    return pa.concat_tables(tables) if tables else info.schema.empty_table()


def _pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow-backed pandas dtypes: exact for nullable ints, decimals, lists and time zones."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _where(filters: Sequence[Filter]) -> str:
    """``filters`` as one SQL condition: every one of them must hold."""
    return " AND ".join(_condition(f) for f in filters)


def _condition(item: Filter) -> str:
    column, op, value = item
    sql_op = _OPERATORS.get(op.lower() if isinstance(op, str) else op)
    if sql_op is None:
        raise ValueError(f"unknown filter operator {op!r}; use one of {sorted(_OPERATORS)}")
    if sql_op in ("IN", "NOT IN"):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
            raise ValueError(f"filter {item!r}: {op!r} takes a list of values")
        if not value:
            return "FALSE" if sql_op == "IN" else "TRUE"
        return f"{_quote(column)} {sql_op} ({', '.join(_literal(v) for v in value)})"
    if value is None:
        return f"{_quote(column)} IS {'NOT ' if sql_op == '<>' else ''}NULL"
    return f"{_quote(column)} {sql_op} {_literal(value)}"


def _literal(value: Any) -> str:
    """A SQL literal for a filter value or a record key (strings quoted, never interpolated)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo is not None else "TIMESTAMP"
        return f"{kind} '{value.isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    raise TypeError(f"cannot use a {type(value).__name__} value in a query: {value!r}")


def _quote(name: str) -> str:
    """A quoted identifier: dotted column names such as ``parents.session`` are one name."""
    return '"' + name.replace('"', '""') + '"'
