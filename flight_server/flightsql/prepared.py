"""Prepared statements as signed handles: create, bind parameters, plan, close.

A handle carries the query, the defaults it was prepared with, its parameter count
and, once bound, the parameter rows. Binding returns a new handle instead of changing
server state, so concurrent users of one handle never see each other's values and any
replica can serve any handle. Current drivers adopt the returned handle (arrow-go's
PreparedStatement and arrow-java's FlightSqlClient both read DoPutPreparedStatementResult).
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.auth import Caller
from flight_server.engine import QueryContext
from flight_server.flightsql import column_metadata, parameters
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.plans import PlanCache, Runner
from flight_server.flightsql.tickets import PreparedHandle, Statement, TicketSigner


class PreparedStatements:
    """Issues and reads prepared-statement handles."""

    def __init__(self, plans: PlanCache, signer: TicketSigner) -> None:
        self._plans = plans
        self._signer = signer

    def create(
        self, query: str, context: QueryContext, caller: Caller, run: Runner
    ) -> pb.ActionCreatePreparedStatementResult:
        """Plan ``query`` (through ``run``); its handle, result schema and parameter schema."""
        plan = self._plans.plan(query, context, None, caller, run)
        handle = PreparedHandle(Statement.planned(query, context), plan.parameter_count)
        schema = column_metadata.for_result(plan.schema, plan.type_names)
        result = pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=self._signer.encode(handle, caller.user),
            dataset_schema=schema.serialize().to_pybytes(),
        )
        if plan.parameter_count:
            parameter_schema = parameters.parameter_schema(plan.parameter_count)
            result.parameter_schema = parameter_schema.serialize().to_pybytes()
        return result

    def bind(
        self, raw: bytes, reader: flight.MetadataRecordBatchReader, caller: str | None
    ) -> bytes:
        """A new handle that carries the uploaded parameter rows (the old one stays valid)."""
        handle = self.open(raw, caller)
        encoded = parameters.encode_rows(parameters.read_bound(reader), handle.parameter_count)
        bound = replace(handle, statement=replace(handle.statement, parameters=encoded))
        return self._signer.encode(bound, caller)

    def open(self, raw: bytes, caller: str | None) -> PreparedHandle:
        """The handle ``raw`` encodes, issued to ``caller``."""
        token = self._signer.decode(raw, caller)
        if not isinstance(token, PreparedHandle):
            raise pa.ArrowInvalid(f"a {token.KIND} token is not a prepared statement handle")
        return token
