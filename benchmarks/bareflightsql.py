"""The least a Python Flight SQL server does per new statement: the four RPCs ADBC sends
(CreatePreparedStatement, GetFlightInfo, DoGet, ClosePreparedStatement), answered from
memory with a fixed few-row table and no SQL at all.

Its latency and CPU per query are the floor of any server built on pyarrow.flight on this
machine; with in-process DuckDB's time for the query added, the floor of ours. With
``--middleware`` it also reads each call's ``authorization`` header in a server middleware,
as any server must that knows its callers (pyarrow hands a handler no headers): the floor
of a server with authentication. Given parquet files, it answers every statement with their
table instead, held in memory as ``rawflight`` holds it: the floor of a scan read by ADBC,
which only speaks Flight SQL.

python -m benchmarks.bareflightsql PORT [--middleware] [--batch-rows N FILE...]
"""

from __future__ import annotations

import argparse

import pyarrow as pa
import pyarrow.flight as flight

from benchmarks.rawflight import in_memory
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb

#: What the small-query benchmark's lookup returns: a session's few files.
RESULT = pa.table(
    {
        "id": [f"file-{n}" for n in range(4)],
        "name": [f"scan-{n}.dcm" for n in range(4)],
        "size": pa.array([1024 * n for n in range(4)], pa.int64()),
    }
)


class FixedAnswerServer(flight.FlightServerBase):
    """Answers every statement with one table; a prepared statement's handle is its text."""

    def __init__(
        self,
        location: str,
        schema: pa.Schema,
        batches: list[pa.RecordBatch],
        middleware: dict[str, flight.ServerMiddlewareFactory] | None,
    ) -> None:
        super().__init__(location, middleware=middleware)
        self._schema = schema
        self._serialized_schema = schema.serialize().to_pybytes()
        self._batches = batches

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> list:
        if action.type == "ClosePreparedStatement":
            return []
        if action.type != "CreatePreparedStatement":
            raise flight.FlightServerError(f"unsupported action {action.type}")
        request = commands.decode(pb.ActionCreatePreparedStatementRequest, action.body.to_pybytes())
        result = pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=request.query.encode(),
            dataset_schema=self._serialized_schema,
        )
        return [flight.Result(commands.pack(result))]

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        command = commands.unpack(descriptor.command)
        if not isinstance(command, pb.CommandPreparedStatementQuery):
            raise flight.FlightServerError("only prepared statements are answered")
        endpoint = flight.FlightEndpoint(command.prepared_statement_handle, [])
        return flight.FlightInfo(self._schema, descriptor, [endpoint], -1, -1)

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.RecordBatchStream:
        return flight.RecordBatchStream(
            pa.RecordBatchReader.from_batches(self._schema, self._batches)
        )

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return []  # answers the readiness probe


class _Caller(flight.ServerMiddleware):
    def __init__(self, authorization: list[str]) -> None:
        self.authorization = authorization


class _ReadsAuthorization(flight.ServerMiddlewareFactory):
    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> _Caller:
        return _Caller(headers.get("authorization", []))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bareflightsql")
    parser.add_argument("port", type=int)
    parser.add_argument("--middleware", action="store_true")
    parser.add_argument("--batch-rows", type=int, default=0)
    parser.add_argument("files", nargs="*")
    args = parser.parse_intermixed_args()
    if args.files and args.batch_rows < 1:
        parser.error("a table of files needs --batch-rows N, N >= 1")
    schema, batches = (
        in_memory(args.files, args.batch_rows)
        if args.files
        else (RESULT.schema, RESULT.to_batches())
    )
    middleware = {"caller": _ReadsAuthorization()} if args.middleware else None
    FixedAnswerServer(f"grpc://127.0.0.1:{args.port}", schema, batches, middleware).serve()


if __name__ == "__main__":
    main()
