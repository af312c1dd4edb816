"""Replies to the catalog metadata commands, built from the served snapshot.

Every reply uses the exact schema the spec gives (``schemas.py``); listings come
from our catalog, never from DuckDB's internal catalogs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from flight_server.catalog.model import Dataset, Snapshot, Table, served_schemas
from flight_server.engine import Engine
from flight_server.flightsql import column_metadata, schemas
from flight_server.flightsql import flight_sql_pb2 as pb
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
        (dataset.catalog, name)
        for dataset, name, _ in _schemas(snapshot, command, "catalog", "db_schema_filter_pattern")
    )
    return _rows_table(rows, schemas.DB_SCHEMAS)


def table_types() -> pa.Table:
    """CommandGetTableTypes."""
    return pa.table([pa.array(TABLE_TYPES, pa.utf8())], schema=schemas.TABLE_TYPES)


def tables(snapshot: Snapshot, engine: Engine, command: pb.CommandGetTables) -> pa.Table:
    """CommandGetTables, with each table's serialized Arrow schema when asked for."""
    wanted_types = set(command.table_types)
    if wanted_types and _DATASET_TABLE_TYPE not in wanted_types:
        return schemas_for(command).empty_table()
    match_table = like_matcher(
        command.table_name_filter_pattern if command.HasField("table_name_filter_pattern") else None
    )
    rows = []
    for dataset, schema_name, version in _schemas(
        snapshot, command, "catalog", "db_schema_filter_pattern"
    ):
        for table in version.tables.values():
            if match_table(table.name):
                rows.append((dataset.catalog, schema_name, table))
    rows.sort(key=lambda row: (row[0], row[1], row[2].name))
    columns = [
        [catalog for catalog, _, _ in rows],
        [schema for _, schema, _ in rows],
        [table.name for _, _, table in rows],
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
) -> Iterator[tuple[Dataset, str, object]]:
    """Served (dataset, schema name, version) triples passing a command's catalog and pattern.

    An empty catalog string means "schemas without a catalog", which we never have.
    """
    catalog = getattr(command, catalog_field) if command.HasField(catalog_field) else None
    pattern = getattr(command, pattern_field) if command.HasField(pattern_field) else None
    match_schema = like_matcher(pattern)
    for dataset in snapshot.datasets:
        if catalog is not None and dataset.catalog != catalog:
            continue
        for name, version in served_schemas(dataset):
            if match_schema(name):
                yield dataset, name, version


def _table_schema(engine: Engine, catalog: str, schema: str, table: Table) -> pa.Schema:
    """A table's Arrow schema with its columns' Flight SQL metadata and remarks."""
    plan = engine.table_plan(catalog, schema, table.name)
    return column_metadata.for_table(
        plan.schema, plan.type_names, (catalog, schema, table.name), table.column_remarks
    )


def _rows_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Build a table from row tuples in ``schema``'s column order."""
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table(
        [pa.array(col, f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
    )
