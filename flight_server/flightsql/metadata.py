"""Replies to the catalog metadata commands, built from the served snapshot.

Every reply uses the exact schema the spec gives (``schemas.py``); listings come
from our catalog, never from DuckDB's internal catalogs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pyarrow as pa

from flight_server.catalog.model import ServedSchema, Snapshot
from flight_server.flightsql import column_metadata, schemas
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.backend import QueryEngine
from flight_server.flightsql.patterns import like_matcher

TABLE_TYPES = ("TABLE", "VIEW")
# Dataset tables are stored views over parquet files, but to users they are tables.
_DATASET_TABLE_TYPE = "TABLE"


def catalogs(snapshot: Snapshot) -> pa.Table:
    """CommandGetCatalogs."""
    return pa.table([pa.array(snapshot.catalogs(), pa.utf8())], schema=schemas.CATALOGS)


def db_schemas(snapshot: Snapshot, command: pb.CommandGetDbSchemas) -> pa.Table:
    """CommandGetDbSchemas, ordered by catalog then schema name."""
    rows = sorted(
        (served.catalog, served.name)
        for served in _schemas(snapshot, command, "catalog", "db_schema_filter_pattern")
    )
    return _rows_table(rows, schemas.DB_SCHEMAS)


def table_types() -> pa.Table:
    """CommandGetTableTypes."""
    return pa.table([pa.array(TABLE_TYPES, pa.utf8())], schema=schemas.TABLE_TYPES)


def tables(snapshot: Snapshot, engine: QueryEngine, command: pb.CommandGetTables) -> pa.Table:
    """CommandGetTables, with each table's serialized Arrow schema when asked for."""
    wanted_types = set(command.table_types)
    if wanted_types and _DATASET_TABLE_TYPE not in wanted_types:
        return schemas_for(command).empty_table()
    match_table = like_matcher(
        command.table_name_filter_pattern if command.HasField("table_name_filter_pattern") else None
    )
    rows = sorted(
        (
            (served.catalog, served.name, table, remarks)
            for served in _schemas(snapshot, command, "catalog", "db_schema_filter_pattern")
            for table, remarks in served.tables.items()
            if match_table(table)
        ),
        key=lambda row: row[:3],
    )
    columns = [
        [catalog for catalog, _, _, _ in rows],
        [schema for _, schema, _, _ in rows],
        [table for _, _, table, _ in rows],
        [_DATASET_TABLE_TYPE] * len(rows),
    ]
    if command.include_schema:
        columns.append([_table_schema(engine, *row).serialize().to_pybytes() for row in rows])
    return pa.table(columns, schema=schemas_for(command))


def schemas_for(command: pb.CommandGetTables) -> pa.Schema:
    """The reply schema of a GetTables command (with or without ``table_schema``)."""
    return schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES


def _schemas(
    snapshot: Snapshot, command: object, catalog_field: str, pattern_field: str
) -> Iterator[ServedSchema]:
    """Served schemas passing a command's catalog and schema pattern.

    An empty catalog string means "schemas without a catalog", which we never have.
    """
    catalog = getattr(command, catalog_field) if command.HasField(catalog_field) else None
    pattern = getattr(command, pattern_field) if command.HasField(pattern_field) else None
    match_schema = like_matcher(pattern)
    for served in snapshot.schemas():
        if (catalog is None or served.catalog == catalog) and match_schema(served.name):
            yield served


def _table_schema(
    engine: QueryEngine, catalog: str, schema: str, table: str, remarks: Mapping[str, str]
) -> pa.Schema:
    """A table's Arrow schema with its columns' Flight SQL metadata and remarks."""
    plan = engine.table_plan(catalog, schema, table)
    path = (catalog, schema, table)
    return column_metadata.for_table(plan.schema, plan.type_names, path, remarks)


def _rows_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Build a table from row tuples in ``schema``'s column order."""
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table(
        [pa.array(col, f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
    )
