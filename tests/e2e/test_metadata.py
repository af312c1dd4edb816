"""Catalog metadata through ADBC: objects, table schemas, table types, info."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight

from flight_server.demo import GeneratedDataset
from flight_server.flightsql import commands, schemas
from flight_server.flightsql import flight_sql_pb2 as pb


def objects(conn: flight_sql.Connection, **filters: object) -> dict:
    """``adbc_get_objects`` as {catalog: {schema: {table: [columns]}}}."""
    listing: dict = {}
    for catalog in conn.adbc_get_objects(**filters).read_all().to_pylist():
        schemas_ = listing.setdefault(catalog["catalog_name"], {})
        for schema in catalog["catalog_db_schemas"] or []:
            tables = schemas_.setdefault(schema["db_schema_name"], {})
            for table in schema["db_schema_tables"] or []:
                tables[table["table_name"]] = [
                    c["column_name"] for c in table["table_columns"] or []
                ]
    return listing


def test_get_objects_lists_catalogs_schemas_tables_columns(
    conn: flight_sql.Connection, demo: GeneratedDataset
) -> None:
    listing = objects(conn)
    assert set(listing) == {"local"}
    assert {"proj1", "legacy_a", "legacy_b", f"proj1@{demo.versions[0].label}"} <= set(
        listing["local"]
    )
    tables = listing["local"]["proj1"]
    assert set(tables) == set(demo.exposed_tables)
    assert not set(tables) & set(demo.unexposed_tables)
    assert "parents.subject" in tables["sessions"]
    assert "modality" in tables["acquisitions"]  # a hive partition column


def test_get_objects_filters(conn: flight_sql.Connection) -> None:
    listing = objects(conn, depth="tables", db_schema_filter="legacy%", table_name_filter="sess%")
    assert set(listing["local"]) >= {"legacy_a", "legacy_b"}
    assert all(name.startswith("legacy") for name in listing["local"])
    assert all(set(tables) == {"sessions"} for tables in listing["local"].values())


def test_table_schema_carries_remarks(conn: flight_sql.Connection, demo: GeneratedDataset) -> None:
    schema = conn.adbc_get_table_schema(
        "sessions", catalog_filter="local", db_schema_filter="proj1"
    )
    expected = demo.latest.tables["sessions"].column_descriptions
    remarks = {
        field.name: field.metadata[schemas.ColumnMetadataKey.REMARKS.encode()].decode()
        for field in schema
        if field.metadata and schemas.ColumnMetadataKey.REMARKS.encode() in field.metadata
    }
    assert remarks and remarks == {k: v for k, v in expected.items() if k in schema.names}
    assert schema.field("weight").type == pa.decimal128(10, 2)


def test_table_types(conn: flight_sql.Connection) -> None:
    types = conn.adbc_get_table_types()
    assert "TABLE" in types and "BASE TABLE" not in types


def test_table_type_filter(server_uri: str) -> None:
    client = flight.connect(server_uri)
    for wanted, expect_rows in ((["VIEW"], False), (["TABLE"], True)):
        command = pb.CommandGetTables(catalog="local", table_types=wanted)
        descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
        info = client.get_flight_info(descriptor)
        table = client.do_get(info.endpoints[0].ticket).read_all()
        assert table.schema.equals(schemas.TABLES)
        assert (table.num_rows > 0) == expect_rows


def test_metadata_replies_use_exact_spec_schemas(server_uri: str) -> None:
    client = flight.connect(server_uri)
    cases = [
        (pb.CommandGetCatalogs(), schemas.CATALOGS),
        (pb.CommandGetDbSchemas(catalog="local"), schemas.DB_SCHEMAS),
        (pb.CommandGetTables(include_schema=True), schemas.TABLES_WITH_SCHEMA),
        (pb.CommandGetTableTypes(), schemas.TABLE_TYPES),
        (pb.CommandGetSqlInfo(), schemas.SQL_INFO),
        (pb.CommandGetXdbcTypeInfo(), schemas.XDBC_TYPE_INFO),
    ]
    for command, schema in cases:
        descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
        info = client.get_flight_info(descriptor)
        assert info.schema.equals(schema), type(command).__name__
        table = client.do_get(info.endpoints[0].ticket).read_all()
        assert table.schema.equals(schema), type(command).__name__
        assert table.num_rows > 0, type(command).__name__


def test_adbc_get_info(conn: flight_sql.Connection) -> None:
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "fw-flight-sql"
    assert info["vendor_version"]
    assert info["vendor_arrow_version"] == pa.__version__
