"""The metadata commands the server answers, each with its reply schema and builder.

GetFlightInfo answers with a command's schema before anything is built; DoGet builds the
reply from what the caller may see then, and streams it in batches under the configured
byte budget (``limits.metadata_batch_bytes``). Supporting a new command is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flight_server import __version__
from flight_server.catalog.model import Snapshot
from flight_server.engine import QueryError
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql import metadata, metadata_batching, schemas
from flight_server.flightsql.backend import QueryEngine
from flight_server.flightsql.sql_info import sql_info_table
from flight_server.flightsql.status import to_flight_error
from flight_server.flightsql.xdbc_types import xdbc_type_info_table

SERVER_NAME = "fw-flight-sql"


@dataclass(frozen=True)
class MetadataCommand:
    """How to answer one command type: its reply schema, and the reply itself."""

    schema: Callable[[Any], pa.Schema]
    #: The reply to a command, from the snapshot the caller may see and the engine.
    build: Callable[[Any, Snapshot, QueryEngine], metadata_batching.Reply]

    def batches(
        self, command: object, snapshot: Snapshot, engine: QueryEngine, budget: int
    ) -> Iterator[pa.RecordBatch]:
        """The reply as batches of at most ``budget`` IPC bytes, its rows built as they are
        pulled; an engine error on the way (a table whose schema cannot be computed) fails
        the call with the status that error has in every other call."""
        reply = self.build(command, snapshot, engine)
        return _flight_errors(metadata_batching.batches(reply, self.schema(command), budget))


def _flight_errors(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Engine errors as Flight errors: raised while the stream is pulled, they reach no
    handler's ``flight_errors``."""
    try:
        yield from batches
    except QueryError as exc:
        raise to_flight_error(exc) from None


def _fixed(
    schema: pa.Schema, build: Callable[[Any, Snapshot, QueryEngine], metadata_batching.Reply]
) -> MetadataCommand:
    """A command whose reply schema never depends on the command."""
    return MetadataCommand(lambda _command: schema, build)


def _no_keys(schema: pa.Schema) -> MetadataCommand:
    """Dataset tables declare no primary or foreign keys."""
    return _fixed(schema, lambda _command, _snapshot, _engine: ())


def _sql_info(command: pb.CommandGetSqlInfo, _snapshot: Snapshot, _engine: QueryEngine) -> pa.Table:
    return sql_info_table(list(command.info), server_name=SERVER_NAME, server_version=__version__)


def _xdbc_type_info(
    command: pb.CommandGetXdbcTypeInfo, _snapshot: Snapshot, _engine: QueryEngine
) -> pa.Table:
    return xdbc_type_info_table(command.data_type if command.HasField("data_type") else None)


COMMANDS: dict[type, MetadataCommand] = {
    pb.CommandGetCatalogs: _fixed(
        schemas.CATALOGS, lambda _command, snapshot, _engine: metadata.catalogs(snapshot)
    ),
    pb.CommandGetDbSchemas: _fixed(
        schemas.DB_SCHEMAS,
        lambda command, snapshot, _engine: metadata.db_schemas(snapshot, command),
    ),
    pb.CommandGetTables: MetadataCommand(
        metadata.schemas_for,
        lambda command, snapshot, engine: metadata.tables(snapshot, engine, command),
    ),
    pb.CommandGetTableTypes: _fixed(
        schemas.TABLE_TYPES, lambda _command, _snapshot, _engine: metadata.table_types()
    ),
    pb.CommandGetSqlInfo: _fixed(schemas.SQL_INFO, _sql_info),
    pb.CommandGetXdbcTypeInfo: _fixed(schemas.XDBC_TYPE_INFO, _xdbc_type_info),
    pb.CommandGetPrimaryKeys: _no_keys(schemas.PRIMARY_KEYS),
    pb.CommandGetExportedKeys: _no_keys(schemas.FOREIGN_KEYS),
    pb.CommandGetImportedKeys: _no_keys(schemas.FOREIGN_KEYS),
    pb.CommandGetCrossReference: _no_keys(schemas.FOREIGN_KEYS),
}


def command_for(command: object) -> MetadataCommand:
    """How to answer ``command``; anything else is not implemented."""
    entry = COMMANDS.get(type(command))
    if entry is None:
        raise pa.ArrowNotImplementedError(f"unsupported command {type(command).__name__}")
    return entry
