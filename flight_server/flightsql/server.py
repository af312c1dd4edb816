"""The Flight SQL server: decodes requests and dispatches them to one handler per command."""

from __future__ import annotations

import base64
import dataclasses
import logging
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.flight as flight

from flight_server import __version__
from flight_server.auth import AUTH_MIDDLEWARE, AuthMiddlewareFactory, Caller, HandshakeAccepter
from flight_server.auth import caller_of as authenticated_caller
from flight_server.auth.setup import build_authenticator, signing_secret
from flight_server.catalog.model import Snapshot
from flight_server.engine import ErrorKind, Execution, Plan, QueryContext, QueryError
from flight_server.flightsql import (
    column_metadata,
    commands,
    datasets_action,
    limits,
    memory_guard,
    metadata,
    parameters,
    partitions,
    schemas,
    session_options,
)
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.cancellation import Puller, Query, RunningQueries, tickets_of
from flight_server.flightsql.plans import CursorWatch, PlanCache, Runner
from flight_server.flightsql.prepared import PreparedStatements, context_of, statement_body
from flight_server.flightsql.sessions import (
    MIDDLEWARE_KEY,
    SessionMiddleware,
    SessionMiddlewareFactory,
    SessionStore,
)
from flight_server.flightsql.sql_info import sql_info_table
from flight_server.flightsql.status import flight_errors, to_flight_error
from flight_server.flightsql.tickets import TicketSigner
from flight_server.flightsql.visibility import visible_to
from flight_server.flightsql.xdbc_types import xdbc_type_info_table
from flight_server.runtime import Runtime

log = logging.getLogger(__name__)

SERVER_NAME = "fw-flight-sql"
_STATEMENT = "statement"
_COMMAND = "command"
_PART = "part"
# Pull threads shared by every DoGet; DuckDB parallelises inside each query.
_PULL_WORKERS = 32
_ACTIONS = {
    "CreatePreparedStatement": "Plan a query; return a handle, its schema and parameters",
    "ClosePreparedStatement": "Release a prepared statement handle",
    "CancelFlightInfo": "Stop the queries serving a FlightInfo's tickets",
    "CancelQuery": "Deprecated Flight SQL form of CancelFlightInfo",
    "SetSessionOptions": "Set the session's default catalog and schema",
    "GetSessionOptions": "Read the session's options",
    "CloseSession": "Forget the session",
    datasets_action.ACTION: datasets_action.DESCRIPTION,
}


class FlightSqlServer(flight.FlightServerBase):
    """Arrow Flight SQL over the datasets a ``Runtime`` serves."""

    def __init__(self, runtime: Runtime, location: str, **kwargs: object) -> None:
        settings = runtime.settings
        # Without a shared secret each process signs its own tickets and bearer tokens:
        # fine for one server, while replicas behind a load balancer must share
        # auth.token_secret.
        secret = signing_secret(settings)
        # Callers' own middleware (the ops call metrics) is kept and ours added beside it;
        # an authenticator given under AUTH_MIDDLEWARE replaces the configured one.
        middleware = dict(kwargs.pop("middleware", None) or {})
        middleware[MIDDLEWARE_KEY] = SessionMiddlewareFactory()
        if AUTH_MIDDLEWARE not in middleware:
            authenticator = build_authenticator(settings, secret)
            middleware[AUTH_MIDDLEWARE] = AuthMiddlewareFactory(authenticator)
        kwargs.setdefault("auth_handler", HandshakeAccepter())
        super().__init__(location, middleware=middleware, **kwargs)
        # pyarrow appends the formatted Python traceback of a handler's exception to the
        # status message it sends; a limit of 0 keeps server paths and frames out of
        # client-visible errors (our log formatters pass their own limit).
        sys.tracebacklimit = 0
        self._runtime = runtime
        self._limits = settings.limits
        self._slots = limits.QuerySlots(
            settings.limits.max_concurrent_queries,
            settings.limits.queue_seconds,
            settings.limits.max_queries_per_user,
        )
        self._signer = TicketSigner(secret, settings.auth.ticket_ttl_seconds)
        self._plans = PlanCache(runtime.engine, lambda: runtime.snapshot)
        self._prepared = PreparedStatements(self._plans, self._signer)
        self._sessions = SessionStore()
        self._running = RunningQueries()
        self._puller = Puller(
            _PULL_WORKERS, memory_guard.ceiling_of(settings.limits.max_memory_bytes)
        )
        self._actions: dict[str, Callable[[flight.ServerCallContext, bytes], list[bytes]]] = {
            "CreatePreparedStatement": self._create_prepared_statement,
            "ClosePreparedStatement": self._close_prepared_statement,
            "CancelFlightInfo": self._cancel_flight_info,
            "CancelQuery": self._cancel_query,
            "SetSessionOptions": lambda ctx, body: [
                session_options.set_options(
                    self._sessions,
                    self._session(ctx),
                    self._snapshot(ctx),
                    body,
                    self._runtime.default_context().default_catalog,
                )
            ],
            "GetSessionOptions": lambda ctx, body: [
                session_options.get_options(self._sessions, self._session(ctx))
            ],
            "CloseSession": lambda ctx, body: [
                session_options.close_session(self._sessions, self._session(ctx))
            ],
            datasets_action.ACTION: lambda ctx, body: [
                datasets_action.list_datasets(self._snapshot(ctx))
            ],
        }

    # -- RPCs -------------------------------------------------------------------------------

    @flight_errors
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        self._check_descriptor(descriptor)
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            return self._table_info(context, descriptor)
        schema, ticket = self._plan(context, descriptor)
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)

    @flight_errors
    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        self._check_descriptor(descriptor)
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            return flight.SchemaResult(self._table_schema(context, descriptor.path))
        schema, _ticket = self._plan(context, descriptor)
        return flight.SchemaResult(schema)

    @flight_errors
    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        """Every table as a ``[catalog, schema, table]`` path (endpoints: get_flight_info)."""
        for ref in list(partitions.served_tables(self._snapshot(context))):
            descriptor = flight.FlightDescriptor.for_path(*ref.path)
            yield flight.FlightInfo(self._table_schema(context, ref.path), descriptor, [], -1, -1)

    @flight_errors
    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        limits.check_size("the ticket", len(ticket.ticket), self._limits.max_request_bytes)
        caller = self._caller(context)
        kind, body = self._signer.open(ticket.ticket, caller.user)
        if kind == _COMMAND:
            command = commands.unpack(base64.b64decode(body["cmd"]))
            return flight.RecordBatchStream(self._metadata_table(context, command))
        if kind == _STATEMENT:
            rows = parameters.decode_rows(body.get("p"))
            query_context = context_of(body, caller.may_see)
            execution = self._runtime.engine.start(body["q"], query_context, rows)
        elif kind == _PART:
            ref = partitions.find_table(self._snapshot(context), body["t"])
            execution = self._runtime.engine.start_scan(
                ref.path, ref.dataset, ref.table, body["f"], caller.may_see
            )
        else:
            raise pa.ArrowInvalid(f"a {kind} token is not a ticket")
        return self._stream(context, ticket.ticket, caller.user, execution)

    @flight_errors
    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise pa.ArrowNotImplementedError("DoPut takes Flight SQL commands only")
        self._check_descriptor(descriptor)
        command = commands.unpack(descriptor.command)
        if isinstance(command, pb.CommandPreparedStatementQuery):
            handle = self._prepared.bind(
                command.prepared_statement_handle, reader, self._caller(context).user
            )
            result = pb.DoPutPreparedStatementResult(prepared_statement_handle=handle)
            writer.write(pa.py_buffer(result.SerializeToString()))
            return
        if isinstance(
            command,
            pb.CommandStatementUpdate
            | pb.CommandPreparedStatementUpdate
            | pb.CommandStatementIngest,
        ):
            raise QueryError(
                ErrorKind.PERMISSION, "updates are not allowed: this server is read-only"
            )
        raise pa.ArrowNotImplementedError(f"unsupported DoPut command {type(command).__name__}")

    @flight_errors
    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> list[flight.Result]:
        handler = self._actions.get(action.type)
        if handler is None:
            raise pa.ArrowNotImplementedError(f"unsupported action {action.type!r}")
        body = action.body.to_pybytes() if action.body is not None else b""
        limits.check_size("the action body", len(body), self._limits.max_request_bytes)
        return [flight.Result(result) for result in handler(context, body)]

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return list(_ACTIONS.items())

    def shutdown(self) -> None:
        super().shutdown()
        self._puller.shutdown()

    # -- streaming --------------------------------------------------------------------------

    def _stream(
        self, context: flight.ServerCallContext, ticket: bytes, caller: str, execution: Execution
    ) -> flight.FlightDataStream:
        """Stream an execution, cancellable by ticket and by the client dropping the call.

        It takes one of the server's query slots (waiting in line for one if all are
        taken) and must finish within the query time limit, counted from here.
        """
        try:
            query = self._query(caller, execution)
        except BaseException:
            execution.close()
            raise
        self._running.track(ticket, execution)
        try:
            schema = self._puller.call(context, query, execution.open)
        except BaseException:
            query.close()
            raise
        batches = self._batches(context, query)
        # pyarrow drops the stream unstarted when the client left before the schema was
        # sent, and an unstarted generator runs no ``finally``: close it on collection too.
        weakref.finalize(batches, query.close)
        return flight.GeneratorStream(schema, batches)

    def _batches(self, context: flight.ServerCallContext, query: Query) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._puller.batches(context, query)
        except QueryError as exc:
            raise to_flight_error(exc) from None
        finally:
            query.close()

    def _query(self, caller: str, execution: Execution | None = None) -> Query:
        """A query slot for ``caller`` (waiting in line for one) and the deadline from now."""
        slot = self._slots.acquire(caller)
        timeout = self._limits.query_timeout_seconds
        deadline = time.monotonic() + timeout if timeout is not None else None
        return Query(slot, deadline, execution)

    def _planner(self, context: flight.ServerCallContext) -> Runner:
        """Plans as queries run: in one of the caller's slots, within the time limit, and
        interrupted on the client's cancel (the slot is kept until the bind has unwound)."""
        caller = self._caller(context).user

        def run(plan: Callable[[CursorWatch], Plan]) -> Plan:
            query = self._query(caller)
            try:
                return self._puller.call(context, query, lambda: plan(query.watch))
            finally:
                query.close()

        return run

    # -- planning ---------------------------------------------------------------------------

    def _plan(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> tuple[pa.Schema, bytes]:
        """The result schema and the ticket for a command descriptor, without running it."""
        command = commands.unpack(descriptor.command)
        caller = self._caller(context)
        if isinstance(command, pb.CommandStatementQuery):
            return self._plan_statement(
                context, command.query, self._query_context(context), caller.user
            )
        if isinstance(command, pb.CommandPreparedStatementQuery):
            body = self._prepared.open(command.prepared_statement_handle, caller.user)
            return self._plan_statement(
                context, body["q"], context_of(body, caller.may_see), caller.user, body.get("p")
            )
        table_schema = self._metadata_schema(command)
        ticket_body = {"cmd": base64.b64encode(descriptor.command).decode()}
        return table_schema, self._signer.issue(_COMMAND, ticket_body, caller.user)

    def _plan_statement(
        self,
        call: flight.ServerCallContext,
        query: str,
        context: QueryContext,
        caller: str,
        bound: str | None = None,
    ) -> tuple[pa.Schema, bytes]:
        limits.check_size("the SQL text", len(query.encode()), self._limits.max_sql_bytes)
        rows = parameters.decode_rows(bound)
        plan = self._plans.plan(
            query, context, rows[0] if rows else None, caller, self._planner(call)
        )
        body = statement_body(query, context)
        if bound:
            body["p"] = bound
        schema = column_metadata.for_result(plan.schema, plan.type_names)
        return schema, self._signer.issue(_STATEMENT, body, caller)

    def _table_schema(
        self, context: flight.ServerCallContext, path: Sequence[bytes | str]
    ) -> pa.Schema:
        ref = partitions.find_table(self._snapshot(context), path)
        plan = self._runtime.engine.table_plan(*ref.path)
        return column_metadata.for_table(
            plan.schema, plan.type_names, ref.path, ref.table.column_remarks
        )

    def _table_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """A table's schema, row count and one endpoint per balanced group of its files."""
        ref = partitions.find_table(self._snapshot(context), descriptor.path)
        sizes = [(path, ref.table.file_rows[path]) for path in ref.table.files]
        caller = self._caller(context).user
        endpoints = [
            flight.FlightEndpoint(
                self._signer.issue(_PART, {"t": list(ref.path), "f": group}, caller),
                [],
            )
            for group in partitions.balanced_groups(sizes)
        ]
        total_rows = sum(rows for _, rows in sizes)
        return flight.FlightInfo(
            self._table_schema(context, descriptor.path), descriptor, endpoints, total_rows, -1
        )

    def _metadata_schema(self, command: object) -> pa.Schema:
        """The reply schema of a metadata command, known before building the reply."""
        if isinstance(command, pb.CommandGetTables):
            return metadata.schemas_for(command)
        static = {
            pb.CommandGetPrimaryKeys: schemas.PRIMARY_KEYS,
            pb.CommandGetExportedKeys: schemas.FOREIGN_KEYS,
            pb.CommandGetImportedKeys: schemas.FOREIGN_KEYS,
            pb.CommandGetCrossReference: schemas.FOREIGN_KEYS,
            pb.CommandGetCatalogs: schemas.CATALOGS,
            pb.CommandGetDbSchemas: schemas.DB_SCHEMAS,
            pb.CommandGetTableTypes: schemas.TABLE_TYPES,
            pb.CommandGetSqlInfo: schemas.SQL_INFO,
            pb.CommandGetXdbcTypeInfo: schemas.XDBC_TYPE_INFO,
        }.get(type(command))
        if static is None:
            raise pa.ArrowNotImplementedError(f"unsupported command {type(command).__name__}")
        return static

    def _metadata_table(self, context: flight.ServerCallContext, command: object) -> pa.Table:
        """Build the reply to a metadata command from what the caller may see now."""
        snapshot = self._snapshot(context)
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
            case (
                pb.CommandGetPrimaryKeys()
                | pb.CommandGetExportedKeys()
                | pb.CommandGetImportedKeys()
                | pb.CommandGetCrossReference()
            ):
                # Dataset tables declare no keys.
                return self._metadata_schema(command).empty_table()
        raise pa.ArrowNotImplementedError(f"unsupported command {type(command).__name__}")

    # -- prepared statements ----------------------------------------------------------------

    def _create_prepared_statement(
        self, context: flight.ServerCallContext, body: bytes
    ) -> list[bytes]:
        request = commands.decode(pb.ActionCreatePreparedStatementRequest, body)
        limits.check_size("the SQL text", len(request.query.encode()), self._limits.max_sql_bytes)
        result = self._prepared.create(
            request.query,
            self._query_context(context),
            self._caller(context).user,
            self._planner(context),
        )
        return [commands.pack(result)]

    def _close_prepared_statement(
        self, context: flight.ServerCallContext, body: bytes
    ) -> list[bytes]:
        request = commands.decode(pb.ActionClosePreparedStatementRequest, body)
        # Handles are self-contained, so closing only checks the handle is ours.
        self._prepared.open(request.prepared_statement_handle, self._caller(context).user)
        return []

    # -- cancellation -----------------------------------------------------------------------

    def _cancel_flight_info(self, context: flight.ServerCallContext, body: bytes) -> list[bytes]:
        request = commands.decode(spb.CancelFlightInfoRequest, body)
        status = (
            spb.CANCEL_STATUS_CANCELLED
            if self._cancel(context, request.info)
            else spb.CANCEL_STATUS_NOT_CANCELLABLE
        )
        return [spb.CancelFlightInfoResult(status=status).SerializeToString()]

    def _cancel_query(self, context: flight.ServerCallContext, body: bytes) -> list[bytes]:
        request = commands.decode(pb.ActionCancelQueryRequest, body)
        result = pb.ActionCancelQueryResult(
            result=pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
            if self._cancel(context, request.info)
            else pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE
        )
        return [commands.pack(result)]

    def _cancel(self, context: flight.ServerCallContext, serialized_info: bytes) -> int:
        """Interrupt the running queries of a FlightInfo's tickets; only the caller's own."""
        tickets = tickets_of(serialized_info)
        caller = self._caller(context).user
        for ticket in tickets:
            self._signer.open(ticket, caller)
        return self._running.cancel(tickets)

    # -- sessions ---------------------------------------------------------------------------

    def _session(self, context: flight.ServerCallContext) -> str:
        """The call's session, bound to its caller: another user's cookie names another session."""
        session: SessionMiddleware = context.get_middleware(MIDDLEWARE_KEY)
        return f"{self._caller(context).user}\0{session.session_id}"

    def _query_context(self, context: flight.ServerCallContext) -> QueryContext:
        """The call's defaults (session options first), reading only what the caller may."""
        defaults = session_options.query_context(
            self._sessions, self._session(context), self._runtime.default_context()
        )
        return dataclasses.replace(defaults, may_read=self._caller(context).may_see)

    # -- callers ----------------------------------------------------------------------------

    @staticmethod
    def _caller(context: flight.ServerCallContext) -> Caller:
        """Who is calling, as the auth middleware (installed on every call) decided."""
        caller = authenticated_caller(context)
        if caller is None:
            raise flight.FlightUnauthenticatedError("authentication required")
        return caller

    def _snapshot(self, context: flight.ServerCallContext) -> Snapshot:
        """The served datasets the caller may see: the source of every listing and lookup."""
        return visible_to(self._runtime.snapshot, self._caller(context))

    def _check_descriptor(self, descriptor: flight.FlightDescriptor) -> None:
        """Refuse oversized commands and paths before decoding them."""
        size = len(descriptor.command or b"") + sum(len(part) for part in descriptor.path or [])
        limits.check_size("the descriptor", size, self._limits.max_request_bytes)
