"""Metadata replies stream in batches under ``limits.metadata_batch_bytes``, so a client's
receive limit never refuses a listing, however many tables the catalog has.

The catalog: ten tiny datasets of ten tables each (each listed twice, as latest and pinned
version), served once with a small batch budget and once with the default one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import fsspec
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from adbc_driver_flightsql import DatabaseOptions

from flight_server.catalog.model import Snapshot
from flight_server.config import DatasetSettings, Settings
from flight_server.configured_server import flight_sql_server
from flight_server.flightsql import commands, schemas
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.runtime import Runtime
from tests.centres import write_centre
from tests.support import running_server

BUDGET = 8 * 1024
#: A client's receive limit between the small budget and the default one.
CLIENT_LIMIT = 64 * 1024
TABLE = pa.table({"id": ["s1"], "label": ["a"], "age": [30], "weight": [61.5]})
TABLES_WITH_SCHEMAS = pb.CommandGetTables(include_schema=True)

EVERY_COMMAND = [
    pb.CommandGetCatalogs(),
    pb.CommandGetDbSchemas(),
    pb.CommandGetTables(),
    TABLES_WITH_SCHEMAS,
    pb.CommandGetTableTypes(),
    pb.CommandGetSqlInfo(),
    pb.CommandGetXdbcTypeInfo(),
    pb.CommandGetPrimaryKeys(table="t0"),
    pb.CommandGetExportedKeys(table="t0"),
    pb.CommandGetImportedKeys(table="t0"),
    pb.CommandGetCrossReference(pk_table="t0", fk_table="t1"),
]


def write_catalog(base: Path, datasets: int, tables: int) -> list[DatasetSettings]:
    local = fsspec.filesystem("file", auto_mkdir=True)
    configured = []
    for d in range(datasets):
        root = str(base / f"ds{d}")
        write_centre(local, root, {f"t{i}": TABLE for i in range(tables)})
        configured.append(DatasetSettings(name=f"ds{d}", location=root))
    return configured


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> list[DatasetSettings]:
    return write_catalog(tmp_path_factory.mktemp("metadata_batches"), datasets=10, tables=10)


@pytest.fixture(scope="module")
def split_uri(catalog: list[DatasetSettings]) -> Iterator[str]:
    settings = Settings(datasets=catalog, limits={"metadata_batch_bytes": BUDGET})
    with running_server(settings) as uri:
        yield uri


@pytest.fixture(scope="module")
def whole_uri(catalog: list[DatasetSettings]) -> Iterator[str]:
    """The same catalog under the default budget: every reply here is one batch."""
    with running_server(Settings(datasets=catalog)) as uri:
        yield uri


def received(client: flight.FlightClient, command: object) -> list[pa.RecordBatch]:
    """The batches of a command's reply, as the client received them."""
    descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
    reader = client.do_get(client.get_flight_info(descriptor).endpoints[0].ticket)
    chunks = []
    while True:
        try:
            chunks.append(reader.read_chunk().data)
        except StopIteration:
            return chunks


def ipc_size(batch: pa.RecordBatch) -> int:
    return pa.ipc.get_record_batch_size(batch)


def test_tables_with_schemas_stream_in_batches_under_the_budget(
    split_uri: str, whole_uri: str
) -> None:
    split = received(flight.connect(split_uri), TABLES_WITH_SCHEMAS)
    whole = received(flight.connect(whole_uri), TABLES_WITH_SCHEMAS)
    assert len(whole) == 1 and whole[0].num_rows == 200
    assert ipc_size(whole[0]) > 10 * BUDGET
    assert len(split) > 10
    assert all(ipc_size(batch) <= BUDGET for batch in split)
    # Same rows in the same order, the same schema bytes: only the cuts differ.
    assert pa.Table.from_batches(split).equals(pa.Table.from_batches(whole))
    names = [(row["db_schema_name"], row["table_name"]) for row in whole[0].to_pylist()]
    assert names == sorted(names)


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: type(c).__name__)
def test_every_reply_keeps_to_the_budget_and_its_rows(
    split_uri: str, whole_uri: str, command: object
) -> None:
    split = received(flight.connect(split_uri), command)
    whole = received(flight.connect(whole_uri), command)
    assert all(batch.num_rows > 0 for batch in split + whole)  # never an empty batch
    assert all(ipc_size(batch) <= BUDGET for batch in split)
    if not whole:
        assert split == []  # no rows (the keys), so no batch at all
        return
    assert pa.Table.from_batches(split).equals(pa.Table.from_batches(whole))
    if ipc_size(whole[0]) > BUDGET:
        assert len(split) > 1


def test_a_small_receive_limit_reads_a_larger_reply_in_batches(
    split_uri: str, whole_uri: str
) -> None:
    options = [("grpc.max_receive_message_length", CLIENT_LIMIT)]
    split = received(flight.connect(split_uri, generic_options=options), TABLES_WITH_SCHEMAS)
    assert sum(ipc_size(batch) for batch in split) > 3 * CLIENT_LIMIT
    # The same client fails on the same reply sent as one batch (pyarrow's client says
    # only CANCELLED; ADBC with the same limit says why).
    with pytest.raises(flight.FlightCancelledError):
        received(flight.connect(whole_uri, generic_options=options), TABLES_WITH_SCHEMAS)
    limited = {DatabaseOptions.WITH_MAX_MSG_SIZE.value: str(CLIENT_LIMIT)}
    for uri, fits in ((split_uri, True), (whole_uri, False)):
        with flight_sql.connect(uri, db_kwargs=limited, autocommit=True) as conn:
            if fits:
                assert conn.adbc_get_objects(depth="all").read_all().num_rows == 1
            else:
                with pytest.raises(flight_sql.Error, match="received message larger than max"):
                    conn.adbc_get_objects(depth="all").read_all()


def test_adbc_get_objects_is_the_same_split_or_whole(split_uri: str, whole_uri: str) -> None:
    def objects(uri: str) -> dict:
        with flight_sql.connect(uri, autocommit=True) as conn:
            listing = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        return {
            (catalog["catalog_name"], schema["db_schema_name"], table["table_name"]): table
            for catalog in listing
            for schema in catalog["catalog_db_schemas"]
            for table in schema["db_schema_tables"]
        }

    split = objects(split_uri)
    assert len(split) == 200
    assert all(len(table["table_columns"]) == 4 for table in split.values())
    assert split == objects(whole_uri)


def test_a_table_without_a_schema_fails_the_listing_after_the_batches_before_it(
    tmp_path: Path,
) -> None:
    """The listing fails NOT_FOUND naming the table, as it would before any batch."""
    runtime = Runtime(
        Settings(datasets=write_catalog(tmp_path, 1, 20), limits={"metadata_batch_bytes": BUDGET})
    )
    runtime.refresh()
    for path in (tmp_path / "ds0").rglob("t9/*.parquet"):
        path.unlink()
    runtime.engine.publish(Snapshot())
    runtime.engine.publish(runtime.snapshot)  # t9 is listed; DuckDB refuses its views on use
    server = flight_sql_server(runtime, "grpc://127.0.0.1:0")
    try:
        uri = f"grpc://127.0.0.1:{server.port}"
        client = flight.connect(uri)
        assert len(received(client, pb.CommandGetTables())) == 1  # names need no schema
        descriptor = flight.FlightDescriptor.for_command(commands.pack(TABLES_WITH_SCHEMAS))
        reader = client.do_get(client.get_flight_info(descriptor).endpoints[0].ticket)
        before = []
        with pytest.raises(pa.ArrowKeyError) as failure:
            while True:
                before.append(reader.read_chunk().data)
        gone = "NOT_FOUND:cannot read local.ds0.t9: file tables/t9/part-0.parquet is gone"
        assert gone in str(failure.value)
        assert before and all(batch.schema.equals(schemas.TABLES_WITH_SCHEMA) for batch in before)
        with (
            flight_sql.connect(uri, autocommit=True) as conn,
            pytest.raises(flight_sql.ProgrammingError, match="NOT_FOUND"),
        ):
            conn.adbc_get_objects(depth="all").read_all()
    finally:
        server.shutdown()
        runtime.stop()
