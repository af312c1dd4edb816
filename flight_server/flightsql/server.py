"""The Flight SQL server: decodes requests and dispatches them to one handler per command.

What each part does lives beside it: metadata commands in ``metadata_commands``, tokens
in ``tickets``, prepared statements in ``prepared``, running and streaming queries in
``streaming``, plain Flight tables in ``partitions``, sessions in ``session_options``.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.auth import (
    AUTH_MIDDLEWARE,
    Authenticator,
    AuthMiddlewareFactory,
    Caller,
    HandshakeAccepter,
)
from flight_server.auth import caller_of as authenticated_caller
from flight_server.catalog.model import Snapshot
from flight_server.config import LimitsSettings
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.flightsql import (
    cancellation,
    column_metadata,
    commands,
    datasets_action,
    limits,
    parameters,
    partitions,
    session_options,
)
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.backend import Backend
from flight_server.flightsql.drain import Drain
from flight_server.flightsql.locations import with_locations
from flight_server.flightsql.metadata_commands import command_for
from flight_server.flightsql.plans import PlanCache
from flight_server.flightsql.prepared import PreparedStatements
from flight_server.flightsql.sessions import (
    MIDDLEWARE_KEY,
    SessionMiddleware,
    SessionMiddlewareFactory,
    SessionStore,
)
from flight_server.flightsql.status import flight_errors
from flight_server.flightsql.streaming import QueryStreams
from flight_server.flightsql.tickets import (
    CommandTicket,
    PartitionTicket,
    Statement,
    StatementPartTicket,
    StatementTicket,
    TicketSigner,
)
from flight_server.flightsql.visibility import visible_to


@dataclass(frozen=True)
class Action:
    """One DoAction type: what ListActions says of it, and what answers it."""

    name: str
    description: str
    handler: Callable[[flight.ServerCallContext, bytes], list[bytes]]


class FlightSqlServer(flight.FlightServerBase):
    """Arrow Flight SQL over the datasets a ``Backend`` serves.

    ``authenticator`` decides who is calling, unless ``middleware`` brings its own under
    ``AUTH_MIDDLEWARE``; callers' other middleware (the ops call metrics) is kept beside ours.
    ``flight_server.configured_server.flight_sql_server`` builds one from the settings.
    """

    def __init__(
        self,
        backend: Backend,
        location: str,
        *,
        limits: LimitsSettings,
        signer: TicketSigner,
        authenticator: Authenticator,
        middleware: Mapping[str, flight.ServerMiddlewareFactory] | None = None,
        advertised_locations: Sequence[str] = (),
        **kwargs: object,
    ) -> None:
        installed = dict(middleware or {})
        installed[MIDDLEWARE_KEY] = SessionMiddlewareFactory()
        installed.setdefault(AUTH_MIDDLEWARE, AuthMiddlewareFactory(authenticator))
        kwargs.setdefault("auth_handler", HandshakeAccepter())
        super().__init__(location, middleware=installed, **kwargs)
        # pyarrow appends the formatted Python traceback of a handler's exception to the
        # status message it sends; a limit of 0 keeps server paths and frames out of
        # client-visible errors (our log formatters pass their own limit).
        sys.tracebacklimit = 0
        self._backend = backend
        self._limits = limits
        self._signer = signer
        self._advertised = tuple(advertised_locations)
        # Which advertised replica the next FlightInfo's first endpoint names.
        self._turns = itertools.count()
        self._drain = Drain()
        self._streams = QueryStreams(limits, self._drain)
        self._plans = PlanCache(
            backend.engine,
            lambda: backend.snapshot,
            limits.plan_cache_entries,
            limits.plan_cache_seconds,
        )
        self._prepared = PreparedStatements(self._plans, signer)
        self._sessions = SessionStore()
        self._actions = {action.name: action for action in self._action_list()}

    def _action_list(self) -> list[Action]:
        return [
            Action(
                "CreatePreparedStatement",
                "Plan a query; return a handle, its schema and parameters",
                self._create_prepared_statement,
            ),
            Action(
                "ClosePreparedStatement",
                "Release a prepared statement handle",
                self._close_prepared_statement,
            ),
            Action(
                "CancelFlightInfo",
                "Stop the queries serving a FlightInfo's tickets",
                lambda ctx, body: [cancellation.cancel_flight_info(body, self._canceller(ctx))],
            ),
            Action(
                "CancelQuery",
                "Deprecated Flight SQL form of CancelFlightInfo",
                lambda ctx, body: [cancellation.cancel_query(body, self._canceller(ctx))],
            ),
            Action(
                "SetSessionOptions",
                "Set the session's default catalog and schema",
                lambda ctx, body: [
                    session_options.set_options(
                        self._sessions,
                        self._session(ctx),
                        self._snapshot(ctx),
                        body,
                        self._backend.default_context().default_catalog,
                    )
                ],
            ),
            Action(
                "GetSessionOptions",
                "Read the session's options",
                lambda ctx, body: [session_options.get_options(self._sessions, self._session(ctx))],
            ),
            Action(
                "CloseSession",
                "Forget the session",
                lambda ctx, body: [
                    session_options.close_session(self._sessions, self._session(ctx))
                ],
            ),
            Action(
                datasets_action.ACTION,
                datasets_action.DESCRIPTION,
                lambda ctx, body: [datasets_action.list_datasets(self._snapshot(ctx))],
            ),
        ]

    # -- RPCs -------------------------------------------------------------------------------

    @flight_errors
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        self._check_descriptor(descriptor)
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            return self._table_info(context, descriptor)
        schema, token, tables = self._plan(context, descriptor)
        parts = (
            self._parts(context, token, tables) if isinstance(token, StatementTicket) else [token]
        )
        user = self._caller(context).user
        endpoints = with_locations(
            [flight.FlightEndpoint(self._signer.encode(part, user), []) for part in parts],
            self._advertised,
            next(self._turns),
        )
        return flight.FlightInfo(schema, descriptor, endpoints, -1, -1)

    @flight_errors
    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        self._check_descriptor(descriptor)
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            return flight.SchemaResult(self._table_schema(context, descriptor.path))
        schema, _token, _tables = self._plan(context, descriptor)
        return flight.SchemaResult(schema)

    @flight_errors
    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        """Every table as a ``[catalog, schema, table]`` path (endpoints: get_flight_info)."""
        for served in list(self._snapshot(context).served_tables()):
            descriptor = flight.FlightDescriptor.for_path(*served.key)
            yield flight.FlightInfo(self._table_schema(context, served.key), descriptor, [], -1, -1)

    @flight_errors
    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        limits.check_size("the ticket", len(ticket.ticket), self._limits.max_request_bytes)
        caller = self._caller(context)
        engine = self._backend.engine
        match self._signer.decode(ticket.ticket, caller.user):
            case CommandTicket(command=packed):
                command = commands.unpack(packed)
                entry = command_for(command)
                budget = self._limits.metadata_batch_bytes
                batches = entry.batches(command, self._snapshot(context), engine, budget)
                return flight.GeneratorStream(
                    entry.schema(command), self._drain.lingering(context, batches)
                )
            case StatementTicket(statement=statement):
                rows = parameters.decode_rows(statement.parameters)
                query_context = statement.context(caller.may_see)
                execution = engine.start(statement.query, query_context, rows)
            case StatementPartTicket(statement=statement, table=path, files=files):
                ref = partitions.find_table(self._snapshot(context), path)
                query_context = statement.context(caller.may_see)
                execution = engine.start_part(
                    statement.query, query_context, ref.key, ref.dataset, ref.table, files
                )
            case PartitionTicket(table=path, files=files):
                ref = partitions.find_table(self._snapshot(context), path)
                execution = engine.start_scan(
                    ref.key, ref.dataset, ref.table, files, caller.may_see
                )
            case other:
                raise pa.ArrowInvalid(f"a {other.KIND} token is not a ticket")
        return self._streams.stream(context, ticket.ticket, caller.user, execution)

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
        known = self._actions.get(action.type)
        if known is None:
            raise pa.ArrowNotImplementedError(f"unsupported action {action.type!r}")
        body = action.body.to_pybytes() if action.body is not None else b""
        limits.check_size("the action body", len(body), self._limits.max_request_bytes)
        return [flight.Result(result) for result in known.handler(context, body)]

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [(action.name, action.description) for action in self._actions.values()]

    def drain(self, grace_seconds: float) -> None:
        """Shutdown is about to begin: streams that end from now on close gently."""
        self._drain.begin(grace_seconds)

    def shutdown(self) -> None:
        super().shutdown()
        self._streams.shutdown()

    # -- planning ---------------------------------------------------------------------------

    def _plan(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> tuple[pa.Schema, StatementTicket | CommandTicket, tuple[tuple[str, str, str], ...]]:
        """The result schema, the (unsigned) ticket and the tables a statement reads (none
        for a metadata command), for a command descriptor, unrun."""
        command = commands.unpack(descriptor.command)
        caller = self._caller(context)
        match command:
            case pb.CommandStatementQuery():
                statement = Statement.planned(command.query, self._query_context(context))
            case pb.CommandPreparedStatementQuery():
                handle = self._prepared.open(command.prepared_statement_handle, caller.user)
                statement = handle.statement
            case _:
                return command_for(command).schema(command), CommandTicket(descriptor.command), ()
        return self._plan_statement(context, statement, caller)

    def _plan_statement(
        self, call: flight.ServerCallContext, statement: Statement, caller: Caller
    ) -> tuple[pa.Schema, StatementTicket, tuple[tuple[str, str, str], ...]]:
        query = statement.query
        limits.check_size("the SQL text", len(query.encode()), self._limits.max_sql_bytes)
        rows = parameters.decode_rows(statement.parameters)
        plan = self._plans.plan(
            query,
            statement.context(caller.may_see),
            rows[0] if rows else None,
            caller,
            self._streams.planner(call, caller.user),
        )
        schema = column_metadata.for_result(plan.schema, plan.type_names)
        return schema, StatementTicket(statement), plan.tables

    def _parts(
        self,
        context: flight.ServerCallContext,
        ticket: StatementTicket,
        tables: Sequence[tuple[str, str, str]],
    ) -> list[StatementTicket | StatementPartTicket]:
        """One ticket per balanced group of files when the statement may run in parts
        (a row-wise scan of one table, no parameters bound), else the statement's own."""
        statement = ticket.statement
        engine = self._backend.engine
        # Parts need one table of at least two parts' rows: anything else (most small
        # queries) is answered whole without analysing the statement for parts.
        splittable = len(tables) == 1 and (
            engine.table_rows(tables[0]) >= 2 * self._limits.partition_min_rows
        )
        if statement.parameters is not None or not splittable:
            return [ticket]
        query_context = statement.context(self._caller(context).may_see)
        key = engine.part_table(statement.query, query_context)
        served = partitions.find_served(self._snapshot(context), key) if key else None
        if served is None:
            return [ticket]
        files = engine.part_files(statement.query, query_context, served.key, served.table)
        # ADBC reads every endpoint at once: half the caller's query slots keeps its parts
        # from queueing behind each other, and leaves the caller room for other queries.
        per_user = self._limits.max_queries_per_user or self._limits.max_concurrent_queries // 2
        file_rows = engine.loaded(served).file_rows
        rows = sum(file_rows[path] for path in files)
        by_size = -(-rows // self._limits.partition_min_rows)  # parts of at least that many
        groups = partitions.file_groups(file_rows, files, max(1, min(per_user // 2, by_size)))
        if not groups or (len(groups) == 1 and len(files) == len(served.table.files)):
            return [ticket]  # nothing to split, or no file can match: the query says so
        return [StatementPartTicket(statement, served.key, tuple(group)) for group in groups]

    def _table_schema(
        self, context: flight.ServerCallContext, path: Sequence[bytes | str]
    ) -> pa.Schema:
        ref = partitions.find_table(self._snapshot(context), path)
        plan = self._backend.engine.table_plan(*ref.key)
        return column_metadata.for_table(
            plan.schema, plan.type_names, ref.key, ref.table.column_remarks
        )

    def _table_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """A table's schema, row count and one endpoint per balanced group of its files."""
        ref = partitions.find_table(self._snapshot(context), descriptor.path)
        loaded = self._backend.engine.loaded(ref)
        sizes = [(path, loaded.file_rows[path]) for path in loaded.files]
        caller = self._caller(context).user
        endpoints = [
            flight.FlightEndpoint(
                self._signer.encode(PartitionTicket(ref.key, tuple(group)), caller), []
            )
            for group in partitions.balanced_groups(sizes)
        ]
        endpoints = with_locations(endpoints, self._advertised, next(self._turns))
        total_rows = sum(rows for _, rows in sizes)
        return flight.FlightInfo(
            self._table_schema(context, descriptor.path), descriptor, endpoints, total_rows, -1
        )

    # -- actions ----------------------------------------------------------------------------

    def _create_prepared_statement(
        self, context: flight.ServerCallContext, body: bytes
    ) -> list[bytes]:
        request = commands.decode(pb.ActionCreatePreparedStatementRequest, body)
        limits.check_size("the SQL text", len(request.query.encode()), self._limits.max_sql_bytes)
        caller = self._caller(context)
        result = self._prepared.create(
            request.query,
            self._query_context(context),
            caller,
            self._streams.planner(context, caller.user),
        )
        return [commands.pack(result)]

    def _close_prepared_statement(
        self, context: flight.ServerCallContext, body: bytes
    ) -> list[bytes]:
        request = commands.decode(pb.ActionClosePreparedStatementRequest, body)
        # Handles are self-contained, so closing only checks the handle is ours.
        self._prepared.open(request.prepared_statement_handle, self._caller(context).user)
        return []

    def _canceller(self, context: flight.ServerCallContext) -> cancellation.Canceller:
        """Cancels the running queries of tickets; only the caller's own."""

        def cancel(tickets: list[bytes]) -> int:
            caller = self._caller(context).user
            for ticket in tickets:
                self._signer.decode(ticket, caller)
            return self._streams.cancel(tickets)

        return cancel

    # -- callers and sessions ---------------------------------------------------------------

    @staticmethod
    def _caller(context: flight.ServerCallContext) -> Caller:
        """Who is calling, as the auth middleware (installed on every call) decided."""
        caller = authenticated_caller(context)
        if caller is None:
            raise flight.FlightUnauthenticatedError("authentication required")
        return caller

    def _session(self, context: flight.ServerCallContext) -> str:
        """The call's session, bound to its caller: another user's cookie names another session."""
        session: SessionMiddleware = context.get_middleware(MIDDLEWARE_KEY)
        return f"{self._caller(context).user}\0{session.session_id}"

    def _query_context(self, context: flight.ServerCallContext) -> QueryContext:
        """The call's defaults (session options first), reading only what the caller may."""
        defaults = session_options.query_context(
            self._sessions, self._session(context), self._backend.default_context()
        )
        return dataclasses.replace(defaults, may_read=self._caller(context).may_see)

    def _snapshot(self, context: flight.ServerCallContext) -> Snapshot:
        """The served datasets the caller may see: the source of every listing and lookup."""
        return visible_to(self._backend.snapshot, self._caller(context))

    def _check_descriptor(self, descriptor: flight.FlightDescriptor) -> None:
        """Refuse oversized commands and paths before decoding them."""
        size = len(descriptor.command or b"") + sum(len(part) for part in descriptor.path or [])
        limits.check_size("the descriptor", size, self._limits.max_request_bytes)
