"""Replies to the catalog metadata commands, built from the served snapshot.

Every reply has the exact schema the spec gives (``schemas.py``) and its rows in the
spec's order; listings come from our catalog, never from DuckDB's internal catalogs.
Replies are rows pulled one by one (``metadata_batching`` sends them in batches), so a
table's schema is computed only when its row is about to be sent.
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


def catalogs(snapshot: Snapshot) -> Iterator[tuple[str]]:
    """CommandGetCatalogs."""
    return ((catalog,) for catalog in snapshot.catalogs())


def db_schemas(snapshot: Snapshot, command: pb.CommandGetDbSchemas) -> list[tuple[str, str]]:
    """CommandGetDbSchemas, ordered by catalog then schema name."""
    return sorted(
        (served.catalog, served.name)
        for served in _schemas(snapshot, command, "catalog", "db_schema_filter_pattern")
    )


def table_types() -> list[tuple[str]]:
    """CommandGetTableTypes."""
    return [(table_type,) for table_type in TABLE_TYPES]


def tables(
    snapshot: Snapshot, engine: QueryEngine, command: pb.CommandGetTables
) -> Iterator[tuple[str | bytes, ...]]:
    """CommandGetTables, ordered by catalog, schema and table name, with each table's
    serialized Arrow schema when asked for: computed as its row is pulled."""
    wanted_types = set(command.table_types)
    if wanted_types and _DATASET_TABLE_TYPE not in wanted_types:
        return
    match_table = like_matcher(
        command.table_name_filter_pattern if command.HasField("table_name_filter_pattern") else None
    )
    listed = sorted(
        (
            (served.catalog, served.name, table, remarks)
            for served in _schemas(snapshot, command, "catalog", "db_schema_filter_pattern")
            for table, remarks in served.tables.items()
            if match_table(table)
        ),
        key=lambda row: row[:3],
    )
    for catalog, schema, table, remarks in listed:
        row: tuple[str | bytes, ...] = (catalog, schema, table, _DATASET_TABLE_TYPE)
        if command.include_schema:
            arrow_schema = _table_schema(engine, catalog, schema, table, remarks)
            row += (arrow_schema.serialize().to_pybytes(),)
        yield row


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
