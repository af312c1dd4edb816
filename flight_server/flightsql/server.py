"""The Flight SQL server: decodes requests and dispatches them to one handler per command."""

from __future__ import annotations

import base64
import logging
import secrets
import sys
from collections.abc import Callable

import pyarrow as pa
import pyarrow.flight as flight

from flight_server import __version__
from flight_server.engine import QueryContext
from flight_server.flightsql import commands, metadata, schemas
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.sql_info import sql_info_table
from flight_server.flightsql.status import flight_errors
from flight_server.flightsql.tickets import TicketSigner
from flight_server.flightsql.xdbc_types import xdbc_type_info_table
from flight_server.runtime import Runtime

log = logging.getLogger(__name__)

SERVER_NAME = "fw-flight-sql"
_STATEMENT = "statement"
_COMMAND = "command"
_PREPARED = "prepared"


class FlightSqlServer(flight.FlightServerBase):
    """Arrow Flight SQL over the datasets a ``Runtime`` serves."""

    def __init__(self, runtime: Runtime, location: str, **kwargs: object) -> None:
        super().__init__(location, **kwargs)
        # pyarrow appends the formatted Python traceback of a handler's exception to the
        # status message it sends; a limit of 0 keeps server paths and frames out of
        # client-visible errors (our log formatters pass their own limit).
        sys.tracebacklimit = 0
        settings = runtime.settings
        # Without a shared secret each process signs its own tickets: fine for one server,
        # while replicas behind a load balancer must share auth.token_secret.
        secret = (
            settings.auth.token_secret.get_secret_value().encode()
            if settings.auth.token_secret
            else secrets.token_bytes(32)
        )
        self._runtime = runtime
        self._signer = TicketSigner(secret, settings.auth.ticket_ttl_seconds)
        self._actions: dict[str, Callable[[flight.ServerCallContext, bytes], list[bytes]]] = {
            "CreatePreparedStatement": self._create_prepared_statement,
            "ClosePreparedStatement": self._close_prepared_statement,
        }

    # -- RPCs -------------------------------------------------------------------------------

    @flight_errors
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        schema, ticket = self._plan(context, descriptor)
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)

    @flight_errors
    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        schema, _ticket = self._plan(context, descriptor)
        return flight.SchemaResult(schema)

    @flight_errors
    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        kind, body = self._signer.open(ticket.ticket, self._caller(context))
        if kind == _STATEMENT:
            reader = self._runtime.engine.execute(body["q"], _context_of(body))
            return flight.RecordBatchStream(reader)
        if kind == _COMMAND:
            command = commands.unpack(base64.b64decode(body["cmd"]))
            return flight.RecordBatchStream(self._metadata_table(command))
        raise pa.ArrowInvalid(f"a {kind} token is not a ticket")

    @flight_errors
    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> list[flight.Result]:
        handler = self._actions.get(action.type)
        if handler is None:
            raise pa.ArrowNotImplementedError(f"unsupported action {action.type!r}")
        body = action.body.to_pybytes() if action.body is not None else b""
        return [flight.Result(result) for result in handler(context, body)]

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [
            ("CreatePreparedStatement", "Plan a query and return a handle with its schema"),
            ("ClosePreparedStatement", "Release a prepared statement handle"),
        ]

    # -- planning ---------------------------------------------------------------------------

    def _plan(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> tuple[pa.Schema, bytes]:
        """The result schema and the ticket for a command descriptor, without running it."""
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise pa.ArrowNotImplementedError("path descriptors are not supported yet")
        command = commands.unpack(descriptor.command)
        caller = self._caller(context)
        if isinstance(command, pb.CommandStatementQuery):
            return self._plan_statement(command.query, self._runtime.default_context(), caller)
        if isinstance(command, pb.CommandPreparedStatementQuery):
            body = self._open_prepared(command.prepared_statement_handle, caller)
            return self._plan_statement(body["q"], _context_of(body), caller)
        table_schema = self._metadata_schema(command)
        ticket_body = {"cmd": base64.b64encode(descriptor.command).decode()}
        return table_schema, self._signer.issue(_COMMAND, ticket_body, caller)

    def _plan_statement(
        self, query: str, context: QueryContext, caller: str | None
    ) -> tuple[pa.Schema, bytes]:
        schema = self._runtime.engine.describe(query, context)
        return schema, self._signer.issue(_STATEMENT, _statement_body(query, context), caller)

    def _metadata_schema(self, command: object) -> pa.Schema:
        """The reply schema of a metadata command, known before building the reply."""
        if isinstance(command, pb.CommandGetTables):
            return metadata.schemas_for(command)
        static = {
            pb.CommandGetCatalogs: schemas.CATALOGS,
            pb.CommandGetDbSchemas: schemas.DB_SCHEMAS,
            pb.CommandGetTableTypes: schemas.TABLE_TYPES,
            pb.CommandGetSqlInfo: schemas.SQL_INFO,
            pb.CommandGetXdbcTypeInfo: schemas.XDBC_TYPE_INFO,
        }.get(type(command))
        if static is None:
            raise pa.ArrowNotImplementedError(f"unsupported command {type(command).__name__}")
        return static

    def _metadata_table(self, command: object) -> pa.Table:
        """Build the reply to a metadata command from the current snapshot."""
        snapshot = self._runtime.snapshot
        match command:
            case pb.CommandGetCatalogs():
                return metadata.catalogs(snapshot)
            case pb.CommandGetDbSchemas():
                return metadata.db_schemas(snapshot, command)
            case pb.CommandGetTables():
                return metadata.tables(snapshot, self._runtime.engine, command)
            case pb.CommandGetTableTypes():
                return metadata.table_types()
            case pb.CommandGetSqlInfo():
                return sql_info_table(
                    list(command.info), server_name=SERVER_NAME, server_version=__version__
                )
            case pb.CommandGetXdbcTypeInfo():
                data_type = command.data_type if command.HasField("data_type") else None
                return xdbc_type_info_table(data_type)
        raise pa.ArrowNotImplementedError(f"unsupported command {type(command).__name__}")

    # -- prepared statements ----------------------------------------------------------------

    def _create_prepared_statement(
        self, context: flight.ServerCallContext, body: bytes
    ) -> list[bytes]:
        request = commands.decode(pb.ActionCreatePreparedStatementRequest, body)
        query_context = self._runtime.default_context()
        schema = self._runtime.engine.describe(request.query, query_context)
        handle = self._signer.issue(
            _PREPARED, _statement_body(request.query, query_context), self._caller(context)
        )
        result = pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=schema.serialize().to_pybytes(),
        )
        return [commands.pack(result)]

    def _close_prepared_statement(
        self, context: flight.ServerCallContext, body: bytes
    ) -> list[bytes]:
        request = commands.decode(pb.ActionClosePreparedStatementRequest, body)
        # Handles are self-contained, so closing only checks the handle is ours.
        self._open_prepared(request.prepared_statement_handle, self._caller(context))
        return []

    def _open_prepared(self, handle: bytes, caller: str | None) -> dict:
        kind, body = self._signer.open(handle, caller)
        if kind != _PREPARED:
            raise pa.ArrowInvalid(f"a {kind} token is not a prepared statement handle")
        return body

    @staticmethod
    def _caller(context: flight.ServerCallContext) -> str | None:
        """Who is calling; anonymous until authentication is configured."""
        return None


def _statement_body(query: str, context: QueryContext) -> dict:
    return {"q": query, "c": context.default_catalog, "s": context.default_schema}


def _context_of(body: dict) -> QueryContext:
    return QueryContext(body.get("c"), body.get("s"))
