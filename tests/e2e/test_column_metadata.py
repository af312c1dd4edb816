"""Column metadata as ADBC (and through it BI tools) sees it."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql

from flight_server.flightsql.schemas import ColumnMetadataKey as Key


def test_get_objects_columns_carry_types_and_locations(conn: flight_sql.Connection) -> None:
    listing = conn.adbc_get_objects(
        depth="columns",
        catalog_filter="local",
        db_schema_filter="proj1",
        table_name_filter="sessions",
    ).read_all()
    (catalog,) = listing.to_pylist()
    (schema,) = catalog["catalog_db_schemas"]
    (table,) = schema["db_schema_tables"]
    columns = {c["column_name"]: c for c in table["table_columns"]}
    assert columns["weight"]["xdbc_type_name"] == "DECIMAL(10,2)"
    assert columns["label"]["xdbc_type_name"] == "VARCHAR"
    assert columns["weight"]["xdbc_scope_table"] == "sessions"
    assert columns["weight"]["xdbc_scope_schema"] == "proj1"
    assert columns["weight"]["xdbc_is_autoincrement"] is False


def test_statement_schema_describes_columns(conn: flight_sql.Connection) -> None:
    with conn.cursor() as cur:
        schema = cur.adbc_execute_schema(
            "SELECT weight, label, visit, weight * 2 AS doubled FROM local.proj1.sessions"
        )

    def meta(name: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in schema.field(name).metadata.items()}

    assert meta("weight")[Key.TYPE_NAME] == "DECIMAL(10,2)"
    assert (meta("weight")[Key.PRECISION], meta("weight")[Key.SCALE]) == ("10", "2")
    assert meta("doubled")[Key.TYPE_NAME].startswith("DECIMAL")
    assert meta("label")[Key.IS_CASE_SENSITIVE] == "1"
    assert meta("visit")[Key.TYPE_NAME] == "INTEGER"
    assert all(meta(name)[Key.IS_READ_ONLY] == "1" for name in schema.names)
