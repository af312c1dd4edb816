"""The Arrow Flight SQL JDBC driver's call sequence (what DBeaver does), replayed over Flight.

The driver jar cannot be installed here, so ``JdbcSequence`` performs the calls the
driver makes (from its sources: ArrowFlightSqlClientHandler, ArrowDatabaseMetadata,
FlightSqlClient.PreparedStatement) and every reply is checked against the spec schema.
``test_real_jdbc_driver`` runs the real driver through JPype when
FW_FLIGHT_SQL_JDBC_JAR names the jar (and jpype is installed); it is skipped otherwise.
"""

from __future__ import annotations

import os
import threading

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.flightsql import commands, schemas
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.schemas import ColumnMetadataKey as Key

JAR_VARIABLE = "FW_FLIGHT_SQL_JDBC_JAR"


class JdbcSequence:
    """A Flight SQL client that calls the server the way the JDBC driver does."""

    def __init__(self, uri: str) -> None:
        self.client = flight.connect(uri)

    def command(self, message: object, expected: pa.Schema | None = None) -> pa.Table:
        """GetFlightInfo, then DoGet on every endpoint (the driver's getStream loop)."""
        descriptor = flight.FlightDescriptor.for_command(commands.pack(message))
        info = self.client.get_flight_info(descriptor)
        parts = [self.client.do_get(e.ticket).read_all() for e in info.endpoints]
        table = pa.concat_tables(parts) if parts else info.schema.empty_table()
        if expected is not None:
            assert info.schema.equals(expected), type(message).__name__
            assert table.schema.equals(expected), type(message).__name__
        return table

    def prepare(self, query: str) -> pb.ActionCreatePreparedStatementResult:
        body = commands.pack(pb.ActionCreatePreparedStatementRequest(query=query))
        (result,) = self.client.do_action(flight.Action("CreatePreparedStatement", body))
        return commands.unpack(result.body.to_pybytes())

    def execute(self, prepared: pb.ActionCreatePreparedStatementResult, row: list) -> pa.Table:
        """setXxx + executeQuery: DoPut the row, take the returned handle, then GetFlightInfo."""
        handle = prepared.prepared_statement_handle
        if row:
            parameter_schema = pa.ipc.read_schema(pa.py_buffer(prepared.parameter_schema))
            batch = pa.record_batch(
                [
                    pa.array([value], field.type)
                    for value, field in zip(row, parameter_schema, strict=True)
                ],
                schema=parameter_schema,
            )
            command = pb.CommandPreparedStatementQuery(prepared_statement_handle=handle)
            descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
            writer, reader = self.client.do_put(descriptor, parameter_schema)
            writer.write_batch(batch)
            writer.done_writing()
            put = pb.DoPutPreparedStatementResult()
            put.ParseFromString(reader.read().to_pybytes())
            writer.close()
            if put.prepared_statement_handle:
                handle = put.prepared_statement_handle
        command = pb.CommandPreparedStatementQuery(prepared_statement_handle=handle)
        descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
        info = self.client.get_flight_info(descriptor)
        table = pa.concat_tables([self.client.do_get(e.ticket).read_all() for e in info.endpoints])
        # Planned with the bound values; before binding, a bare ``?`` column is typed NULL.
        assert table.schema.equals(info.schema)
        if not row:
            dataset = pa.ipc.read_schema(pa.py_buffer(prepared.dataset_schema))
            assert table.schema.equals(dataset)
        return table

    def close(self, prepared: pb.ActionCreatePreparedStatementResult) -> None:
        request = pb.ActionClosePreparedStatementRequest(
            prepared_statement_handle=prepared.prepared_statement_handle
        )
        body = commands.pack(request)
        assert list(self.client.do_action(flight.Action("ClosePreparedStatement", body))) == []


def test_jdbc_connect_and_database_metadata(server_uri: str) -> None:
    jdbc = JdbcSequence(server_uri)
    # Connection properties catalog=/schema= become SetSessionOptions (newer drivers).
    request = spb.SetSessionOptionsRequest()
    request.session_options["catalog"].string_value = "local"
    (reply,) = jdbc.client.do_action(
        flight.Action("SetSessionOptions", request.SerializeToString())
    )
    result = spb.SetSessionOptionsResult()
    result.ParseFromString(reply.body.to_pybytes())
    assert not result.errors
    # DatabaseMetaData caches every SqlInfo id at once.
    info = jdbc.command(pb.CommandGetSqlInfo(), schemas.SQL_INFO)
    ids = set(info["info_name"].to_pylist())
    for wanted in (
        pb.FLIGHT_SQL_SERVER_NAME,
        pb.FLIGHT_SQL_SERVER_VERSION,
        pb.FLIGHT_SQL_SERVER_READ_ONLY,
        pb.SQL_IDENTIFIER_QUOTE_CHAR,
        pb.SQL_IDENTIFIER_CASE,
        pb.SQL_KEYWORDS,
        pb.SQL_NUMERIC_FUNCTIONS,
        pb.SQL_STRING_FUNCTIONS,
        pb.SQL_SYSTEM_FUNCTIONS,
        pb.SQL_DATETIME_FUNCTIONS,
        pb.SQL_SUPPORTED_GRAMMAR,
        pb.SQL_TRANSACTIONS_SUPPORTED,
        pb.SQL_DEFAULT_TRANSACTION_ISOLATION,
        pb.SQL_SUPPORTS_CONVERT,
    ):
        assert wanted in ids, pb.SqlInfo.Name(wanted)
    jdbc.command(pb.CommandGetXdbcTypeInfo(), schemas.XDBC_TYPE_INFO)
    catalogs = jdbc.command(pb.CommandGetCatalogs(), schemas.CATALOGS)
    assert catalogs["catalog_name"].to_pylist() == ["local"]
    jdbc.command(pb.CommandGetDbSchemas(catalog="local"), schemas.DB_SCHEMAS)
    types = jdbc.command(pb.CommandGetTableTypes(), schemas.TABLE_TYPES)
    assert types["table_type"].to_pylist() == ["TABLE", "VIEW"]
    # getColumns: GetTables with schemas, columns described by field metadata.
    tables = jdbc.command(
        pb.CommandGetTables(catalog="local", db_schema_filter_pattern="proj1", include_schema=True),
        schemas.TABLES_WITH_SCHEMA,
    )
    assert set(tables["table_type"].to_pylist()) == {"TABLE"}
    for row in tables.to_pylist():
        schema = pa.ipc.read_schema(pa.py_buffer(row["table_schema"]))
        for field in schema:
            meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
            assert meta[Key.TABLE_NAME] == row["table_name"]
            assert meta[Key.SCHEMA_NAME] == "proj1" and meta[Key.CATALOG_NAME] == "local"
            assert meta[Key.TYPE_NAME]
    # getPrimaryKeys / getExportedKeys / getImportedKeys / getCrossReference: none, exact schemas.
    where = {"catalog": "local", "db_schema": "proj1", "table": "sessions"}
    for keys, expected in (
        (pb.CommandGetPrimaryKeys(**where), schemas.PRIMARY_KEYS),
        (pb.CommandGetExportedKeys(**where), schemas.FOREIGN_KEYS),
        (pb.CommandGetImportedKeys(**where), schemas.FOREIGN_KEYS),
        (
            pb.CommandGetCrossReference(pk_table="subjects", fk_table="sessions"),
            schemas.FOREIGN_KEYS,
        ),
    ):
        assert jdbc.command(keys, expected).num_rows == 0


def test_jdbc_every_query_is_a_prepared_statement(server_uri: str) -> None:
    jdbc = JdbcSequence(server_uri)
    plain = jdbc.prepare("SELECT label, weight FROM local.proj1.sessions ORDER BY label LIMIT 3")
    assert plain.parameter_schema == b""
    table = jdbc.execute(plain, [])
    assert table.num_rows == 3
    jdbc.close(plain)
    with_params = jdbc.prepare(
        "SELECT count(*) AS n FROM local.proj1.sessions WHERE visit = ? AND label <> ?"
    )
    parameter_schema = pa.ipc.read_schema(pa.py_buffer(with_params.parameter_schema))
    assert parameter_schema.names == ["parameter_1", "parameter_2"]
    # The driver converts setString values to the advertised types; DuckDB casts them.
    counts = [jdbc.execute(with_params, [str(v), "x"])["n"][0].as_py() for v in (1, 2)]
    expected = [
        jdbc.command(
            pb.CommandStatementQuery(
                query=f"SELECT count(*) AS n FROM local.proj1.sessions WHERE visit = {v}"
            )
        )["n"][0].as_py()
        for v in (1, 2)
    ]
    assert counts == expected and all(counts)
    jdbc.close(with_params)


def test_jdbc_concurrent_users_share_a_handle_safely(server_uri: str) -> None:
    jdbc = JdbcSequence(server_uri)
    prepared = jdbc.prepare("SELECT ? AS who")
    seen: dict[str, list] = {}

    def user(name: str) -> None:
        mine = JdbcSequence(server_uri)
        try:
            seen[name] = [mine.execute(prepared, [name])["who"][0].as_py() for _ in range(5)]
        except Exception as exc:  # reported by the assertion below
            seen[name] = [exc]

    threads = [threading.Thread(target=user, args=(n,)) for n in ("ann", "ben", "cy")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {name: [name] * 5 for name in ("ann", "ben", "cy")}


@pytest.mark.skipif(not os.environ.get(JAR_VARIABLE), reason=f"set {JAR_VARIABLE} to a jar")
def test_real_jdbc_driver(server_uri: str) -> None:
    pytest.importorskip("jpype.imports")  # enables ``from java... import``
    import jpype

    if not jpype.isJVMStarted():
        jpype.startJVM(classpath=[os.environ[JAR_VARIABLE]])
    from java.sql import DriverManager  # type: ignore[import-not-found]

    host_port = server_uri.removeprefix("grpc://")
    url = f"jdbc:arrow-flight-sql://{host_port}/?useEncryption=false&catalog=local"
    connection = DriverManager.getConnection(url)
    try:
        meta = connection.getMetaData()
        catalogs = meta.getCatalogs()
        assert catalogs.next() and catalogs.getString(1) == "local"
        columns = meta.getColumns("local", "proj1", "sessions", "%")
        names = []
        while columns.next():
            names.append(str(columns.getString("COLUMN_NAME")))
        assert "weight" in names
        statement = connection.prepareStatement(
            "SELECT count(*) AS n FROM local.proj1.sessions WHERE visit = ?"
        )
        statement.setString(1, "1")
        result = statement.executeQuery()
        assert result.next() and result.getLong(1) > 0
        statement.close()
    finally:
        connection.close()
