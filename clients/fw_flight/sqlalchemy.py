"""A SQLAlchemy dialect for fw-flight-sql, so BI tools (Superset, notebooks) can browse it.

    fwflight://HOST:32010?tls=false                 plaintext, anonymous
    fwflight://HOST:32010?api_key=site.flywheel.io:KEY
    fwflight://USER:PASSWORD@HOST:32010/neuro       default catalog "neuro"

TLS is on unless ``tls=false``; ``token`` (or ``api_key``) is sent as a bearer token,
``tls_root_certs`` names a CA file. Without a catalog in the path, schemas are listed
as ``catalog.schema`` (``local.proj1``) and quoted as two names; with one, the schemas
of that catalog are listed by their own names and unqualified names resolve in it.

Generic ADBC dialects match table types in lower case and so list no tables here (the
server answers ``TABLE``, as JDBC expects); this one asks for the server's table types
and maps the Arrow schema of each table to SQLAlchemy types.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import sqlalchemy
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import default
from sqlalchemy.engine.url import URL
from sqlalchemy.sql import compiler

from fw_flight.client import _exact, connection_options

_TRUE = {"1", "true", "yes", "on"}
_REMARKS = b"ARROW:FLIGHT:SQL:REMARKS"
_DOUBLE = getattr(sqltypes, "Double", sqltypes.Float)  # SQLAlchemy 2 has Double


class FlightSQLIdentifierPreparer(compiler.IdentifierPreparer):
    """Quotes a ``catalog.schema`` schema as two names: ``"local"."proj1"``."""

    def quote_schema(self, schema: str, force: Any = None) -> str:
        return ".".join(self.quote(part) for part in schema.split(".", 1))


class FlightSQLDialect(default.DefaultDialect):
    """fw-flight-sql over the ADBC Flight SQL driver (read-only, qmark parameters)."""

    name = "fwflight"
    driver = "adbc"
    paramstyle = "qmark"
    preparer = FlightSQLIdentifierPreparer
    supports_statement_cache = True
    supports_sane_rowcount = False
    supports_sane_multi_rowcount = False
    supports_native_boolean = True
    supports_native_decimal = True
    supports_alter = False
    postfetch_lastrowid = False

    @classmethod
    def import_dbapi(cls) -> ModuleType:
        return flight_sql

    if sqlalchemy.__version__.startswith("1."):  # SQLAlchemy 1.4 (Superset) calls dbapi()

        @classmethod
        def dbapi(cls) -> ModuleType:  # type: ignore[override]
            return flight_sql

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        query = {
            key: value if isinstance(value, str) else value[-1] for key, value in url.query.items()
        }
        scheme = "grpc+tls" if query.get("tls", "true").lower() in _TRUE else "grpc"
        uri = f"{scheme}://{url.host or 'localhost'}:{url.port or 32010}"
        ca_file = query.get("tls_root_certs")
        options = connection_options(
            bearer=query.get("token") or query.get("api_key"),
            username=url.username,
            password=url.password,
            tls_root_certs=Path(ca_file).read_text() if ca_file else None,
        )
        return [uri], {"db_kwargs": options, "autocommit": True}

    def on_connect_url(self, url: URL) -> Any:
        catalog = url.database or None

        def set_catalog(conn: flight_sql.Connection) -> None:
            conn.adbc_current_catalog = catalog

        return set_catalog if catalog else None

    # --- reflection ------------------------------------------------------------------

    def get_catalog_names(self, connection: Any, **kw: Any) -> list[str]:
        objects = _adbc(connection).adbc_get_objects(depth="catalogs").read_all()
        return sorted(objects.column("catalog_name").to_pylist())

    def get_schema_names(self, connection: Any, **kw: Any) -> list[str]:
        catalog = _url_catalog(connection)
        objects = _adbc(connection).adbc_get_objects(depth="db_schemas", catalog_filter=catalog)
        return sorted(
            schema["db_schema_name"]
            if catalog
            else f"{cat['catalog_name']}.{schema['db_schema_name']}"
            for cat in objects.read_all().to_pylist()
            for schema in cat["catalog_db_schemas"] or []
        )

    def get_table_names(self, connection: Any, schema: str | None = None, **kw: Any) -> list[str]:
        return self._tables(connection, schema, "TABLE")

    def get_view_names(self, connection: Any, schema: str | None = None, **kw: Any) -> list[str]:
        return self._tables(connection, schema, "VIEW")

    def has_table(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> bool:
        return table_name in self._tables(connection, schema, None, table_name)

    def get_columns(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> list[dict[str, Any]]:
        catalog, db_schema = self._split(connection, schema)
        arrow_schema = _adbc(connection).adbc_get_table_schema(
            table_name, catalog_filter=catalog, db_schema_filter=db_schema
        )
        return [
            {
                "name": field.name,
                "type": sqlalchemy_type(field.type),
                "nullable": field.nullable,
                "default": None,
                "comment": (field.metadata or {}).get(_REMARKS, b"").decode() or None,
            }
            for field in arrow_schema
        ]

    def get_pk_constraint(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        return {"constrained_columns": [], "name": None}  # datasets declare no keys

    def get_foreign_keys(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> list[Any]:
        return []

    def get_indexes(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> list[Any]:
        return []

    def get_unique_constraints(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> list[Any]:
        return []

    def _split(self, connection: Any, schema: str | None) -> tuple[str | None, str | None]:
        """(catalog, schema) of a listed schema name; the URL's catalog if it has none."""
        catalog = _url_catalog(connection)
        if schema is None or catalog:
            return catalog, schema
        head, dot, tail = schema.partition(".")
        return (head, tail) if dot else (None, schema)

    def _tables(
        self, connection: Any, schema: str | None, table_type: str | None, name: str | None = None
    ) -> list[str]:
        catalog, db_schema = self._split(connection, schema)
        objects = _adbc(connection).adbc_get_objects(
            depth="tables",
            catalog_filter=catalog,
            db_schema_filter=None if db_schema is None else _exact(db_schema),
            table_name_filter=None if name is None else _exact(name),
            table_types_filter=None if table_type is None else [table_type],
        )
        return sorted(
            table["table_name"]
            for cat in objects.read_all().to_pylist()
            for found in cat["catalog_db_schemas"] or []
            if db_schema is None or found["db_schema_name"] == db_schema
            for table in found["db_schema_tables"] or []
        )


def sqlalchemy_type(arrow_type: pa.DataType) -> sqltypes.TypeEngine[Any]:
    """The SQLAlchemy type a column of ``arrow_type`` holds."""
    types = pa.types
    if types.is_boolean(arrow_type):
        return sqltypes.Boolean()
    if types.is_int8(arrow_type) or types.is_int16(arrow_type) or types.is_uint8(arrow_type):
        return sqltypes.SmallInteger()
    if types.is_int32(arrow_type) or types.is_uint16(arrow_type):
        return sqltypes.Integer()
    if types.is_integer(arrow_type):
        return sqltypes.BigInteger()
    if types.is_float16(arrow_type) or types.is_float32(arrow_type):
        return sqltypes.REAL()
    if types.is_float64(arrow_type):
        return _DOUBLE()
    if types.is_decimal(arrow_type):
        return sqltypes.Numeric(arrow_type.precision, arrow_type.scale)
    if (
        types.is_string(arrow_type)
        or types.is_large_string(arrow_type)
        or _is(arrow_type, "string_view")
    ):
        return sqltypes.String()
    if (
        types.is_binary(arrow_type)
        or types.is_large_binary(arrow_type)
        or types.is_fixed_size_binary(arrow_type)
    ):
        return sqltypes.LargeBinary()
    if types.is_timestamp(arrow_type):
        return sqltypes.DateTime(timezone=arrow_type.tz is not None)
    if types.is_date(arrow_type):
        return sqltypes.Date()
    if types.is_time(arrow_type):
        return sqltypes.Time()
    if types.is_duration(arrow_type) or types.is_interval(arrow_type):
        return sqltypes.Interval()
    if (
        types.is_list(arrow_type)
        or types.is_large_list(arrow_type)
        or types.is_fixed_size_list(arrow_type)
    ):
        return sqltypes.ARRAY(sqlalchemy_type(arrow_type.value_type))
    if types.is_struct(arrow_type) or types.is_map(arrow_type):
        return sqltypes.JSON()
    if types.is_dictionary(arrow_type):
        return sqlalchemy_type(arrow_type.value_type)
    return sqltypes.NullType()


def _is(arrow_type: pa.DataType, name: str) -> bool:
    check = getattr(pa.types, f"is_{name}", None)
    return bool(check and check(arrow_type))


def _url_catalog(connection: Any) -> str | None:
    """The default catalog the URL names (``fwflight://host:port/CATALOG``), if any."""
    return connection.engine.url.database or None


def _adbc(connection: Any) -> flight_sql.Connection:
    """The ADBC connection under a SQLAlchemy connection (1.4 and 2.x)."""
    return connection.connection.dbapi_connection
