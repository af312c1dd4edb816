"""Prepared statements as signed handles: create, bind parameters, plan, close.

A handle carries the query, the defaults it was prepared with, its parameter count
and, once bound, the parameter rows. Binding returns a new handle instead of changing
server state, so concurrent users of one handle never see each other's values and any
replica can serve any handle. Current drivers adopt the returned handle (arrow-go's
PreparedStatement and arrow-java's FlightSqlClient both read DoPutPreparedStatementResult).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from flight_server.engine import QueryContext
from flight_server.flightsql import column_metadata, parameters
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.plans import PlanCache, Runner
from flight_server.flightsql.tickets import TicketSigner

HANDLE = "prepared"


def statement_body(query: str, context: QueryContext) -> dict[str, Any]:
    """What a ticket or handle needs to rerun ``query`` exactly as planned."""
    return {"q": query, "c": context.default_catalog, "s": context.default_schema}


def context_of(
    body: dict[str, Any], may_read: Callable[[str, str, str | None], bool]
) -> QueryContext:
    """The defaults a statement body was planned with, for the caller presenting it."""
    return QueryContext(body.get("c"), body.get("s"), may_read)


class PreparedStatements:
    """Issues and reads prepared-statement handles."""

    def __init__(self, plans: PlanCache, signer: TicketSigner) -> None:
        self._plans = plans
        self._signer = signer

    def create(
        self, query: str, context: QueryContext, caller: str | None, run: Runner
    ) -> pb.ActionCreatePreparedStatementResult:
        """Plan ``query`` (through ``run``); its handle, result schema and parameter schema."""
        plan = self._plans.plan(query, context, None, caller or "", run)
        body = {**statement_body(query, context), "n": plan.parameter_count}
        schema = column_metadata.for_result(plan.schema, plan.type_names)
        result = pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=self._signer.issue(HANDLE, body, caller),
            dataset_schema=schema.serialize().to_pybytes(),
        )
        if plan.parameter_count:
            parameter_schema = parameters.parameter_schema(plan.parameter_count)
            result.parameter_schema = parameter_schema.serialize().to_pybytes()
        return result

    def bind(
        self, handle: bytes, reader: flight.MetadataRecordBatchReader, caller: str | None
    ) -> bytes:
        """A new handle that carries the uploaded parameter rows (the old one stays valid)."""
        body = self.open(handle, caller)
        encoded = parameters.encode_rows(parameters.read_bound(reader), body.get("n", 0))
        bound = {key: value for key, value in body.items() if key != "p"}
        if encoded:
            bound["p"] = encoded
        return self._signer.issue(HANDLE, bound, caller)

    def open(self, handle: bytes, caller: str | None) -> dict[str, Any]:
        """The body of a handle issued to ``caller``."""
        kind, body = self._signer.open(handle, caller)
        if kind != HANDLE:
            raise pa.ArrowInvalid(f"a {kind} token is not a prepared statement handle")
        return body
