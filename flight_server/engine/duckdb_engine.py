"""One DuckDB database: catalogs as attached in-memory databases, datasets as views."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from flight_server.catalog.model import Dataset, Snapshot, Table, served_schemas
from flight_server.config import EngineSettings
from flight_server.engine.errors import ErrorKind, QueryError, classify
from flight_server.engine.sql_text import parquet_scan, qualified, quote_ident

log = logging.getLogger(__name__)

# Statements a caller may run: reads only.
_READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT})


@dataclass(frozen=True)
class QueryContext:
    """Per-call defaults that make unqualified names (``SELECT * FROM sessions``) resolve."""

    default_catalog: str | None = None
    default_schema: str | None = None


class Engine:
    """Publishes catalog snapshots as DuckDB views and runs read-only SQL over them."""

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        config: dict[str, str | int] = {"temp_directory": settings.temp_directory}
        if settings.threads:
            config["threads"] = settings.threads
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        self._db = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str, str], str] = {}
        self._schema_cache: dict[tuple[str, str, str], pa.Schema] = {}

    # -- publishing -------------------------------------------------------------------------

    def publish(self, snapshot: Snapshot) -> None:
        """Make DuckDB's catalogs, schemas and views match ``snapshot`` exactly.

        Unchanged views are left alone; queries already running keep the files they bound.
        """
        wanted = {
            (dataset.catalog, schema, table.name): self._view_sql(dataset, table)
            for dataset in snapshot.datasets
            for schema, version in served_schemas(dataset)
            for table in version.tables.values()
        }
        with self._lock:
            attached = {
                row[0]
                for row in self._db.execute(
                    "SELECT database_name FROM duckdb_databases()"
                ).fetchall()
            }
            for catalog in sorted({key[0] for key in wanted} - attached):
                self._db.execute(f"ATTACH ':memory:' AS {quote_ident(catalog)}")
            for catalog, schema in sorted({key[:2] for key in wanted}):
                self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(catalog, schema)}")
            for key, sql in wanted.items():
                if self._views.get(key) != sql:
                    self._db.execute(f"CREATE OR REPLACE VIEW {qualified(*key)} AS {sql}")
                    self._schema_cache.pop(key, None)
            for key in set(self._views) - set(wanted):
                self._db.execute(f"DROP VIEW IF EXISTS {qualified(*key)}")
                self._schema_cache.pop(key, None)
            live_schemas = {key[:2] for key in wanted}
            for catalog, schema in {key[:2] for key in self._views} - live_schemas:
                self._db.execute(f"DROP SCHEMA IF EXISTS {qualified(catalog, schema)}")
            self._views = wanted

    @staticmethod
    def _view_sql(dataset: Dataset, table: Table) -> str:
        """The SELECT a table's view runs; local files are read natively by DuckDB."""
        if dataset.location.type != "fs":
            raise QueryError(
                ErrorKind.INTERNAL, f"storage type {dataset.location.type} is not wired yet"
            )
        return f"SELECT * FROM {parquet_scan(table.files, table.hive_partitioned)}"

    # -- queries ----------------------------------------------------------------------------

    def describe(self, sql: str, context: QueryContext) -> pa.Schema:
        """The result schema of ``sql``, planned without running the query."""
        relation = self._relation(sql, context)
        try:
            return relation.limit(0).to_arrow_table().schema
        except duckdb.Error as exc:
            raise classify(exc) from None

    def execute(self, sql: str, context: QueryContext) -> pa.RecordBatchReader:
        """Start ``sql`` and return a reader that streams its batches as DuckDB produces them."""
        relation = self._relation(sql, context)
        try:
            return relation.to_arrow_reader(self._settings.batch_rows)
        except duckdb.Error as exc:
            raise classify(exc) from None

    def table_schema(self, catalog: str, schema: str, table: str) -> pa.Schema:
        """A published table's Arrow schema (cached until the view changes)."""
        key = (catalog, schema, table)
        cached = self._schema_cache.get(key)
        if cached is None:
            if key not in self._views:
                raise QueryError(ErrorKind.NOT_FOUND, f"table {'.'.join(key)} does not exist")
            cached = self.describe(f"SELECT * FROM {qualified(*key)}", QueryContext())
            self._schema_cache[key] = cached
        return cached

    def _relation(self, sql: str, context: QueryContext) -> duckdb.DuckDBPyRelation:
        """Check ``sql`` is one read statement and bind it on a fresh cursor."""
        cursor = self._cursor(context)
        try:
            statements = cursor.extract_statements(sql)
            if len(statements) != 1:
                raise QueryError(
                    ErrorKind.INVALID, f"expected one SQL statement, got {len(statements)}"
                )
            if statements[0].type not in _READ_STATEMENTS:
                kind = statements[0].type.name
                raise QueryError(
                    ErrorKind.PERMISSION,
                    f"{kind} statements are not allowed: this server is read-only",
                )
            return cursor.sql(sql)
        except duckdb.Error as exc:
            raise classify(exc) from None

    def _cursor(self, context: QueryContext) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one request, with the caller's default schema."""
        with self._lock:
            cursor = self._db.cursor()
        if context.default_catalog:
            target = (
                qualified(context.default_catalog, context.default_schema)
                if context.default_schema
                else quote_ident(context.default_catalog)
            )
            try:
                cursor.execute(f"USE {target}")
            except duckdb.Error as exc:
                raise QueryError(ErrorKind.NOT_FOUND, f"default schema: {exc}") from None
        return cursor
