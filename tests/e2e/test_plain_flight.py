"""Plain Flight: path descriptors, balanced endpoints that return each table exactly once."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.flightsql.schemas import ColumnMetadataKey
from tests.support import REPO, running_server


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """Small files: most tables span several, some with columns others lack."""
    root = tmp_path_factory.mktemp("chunked") / "proj1"
    return write_dataset(str(root), subjects=40, versions=1, chunk_rows=20)


@pytest.fixture(scope="module")
def uri(chunked: GeneratedDataset) -> Iterator[str]:
    with running_server(
        Settings(datasets=[DatasetSettings(name="proj1", location=chunked.root)])
    ) as u:
        yield u


def sql(client: flight.FlightClient, query: str) -> pa.Table:
    command = commands.pack(pb.CommandStatementQuery(query=query))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    # A scan of one table may come as several endpoints (partitioned SQL): read them all.
    return pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)


def read_endpoints(client: flight.FlightClient, info: flight.FlightInfo) -> list[pa.Table]:
    return [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]


def sorted_rows(table: pa.Table) -> list[tuple]:
    return sorted(
        (tuple(repr(v) for v in row.values()) for row in table.to_pylist()),
    )


def test_list_flights_names_every_table_by_path(uri: str, chunked: GeneratedDataset) -> None:
    client = flight.connect(uri)
    paths = {tuple(p.decode() for p in info.descriptor.path) for info in client.list_flights()}
    for table in chunked.exposed_tables:
        assert ("local", "proj1", table) in paths
        assert ("local", f"proj1@{chunked.latest.label}", table) in paths


def test_union_of_endpoints_is_the_table(uri: str, chunked: GeneratedDataset) -> None:
    client = flight.connect(uri)
    several = 0
    for name, generated in chunked.latest.tables.items():
        descriptor = flight.FlightDescriptor.for_path("local", "proj1", name)
        info = client.get_flight_info(descriptor)
        expected = sql(client, f'SELECT * FROM local.proj1."{name}"')
        assert info.total_records == generated.rows == expected.num_rows, name
        assert info.schema.equals(expected.schema), name
        assert len(info.endpoints) <= len(generated.files)
        several += len(info.endpoints) > 1
        parts = read_endpoints(client, info)
        for part in parts:
            assert part.schema.equals(expected.schema), name  # whole schema, same order
        union = pa.concat_tables(parts) if parts else expected.schema.empty_table()
        assert sorted_rows(union) == sorted_rows(expected), name
    assert several >= 3


def test_endpoints_are_balanced(uri: str) -> None:
    client = flight.connect(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_path("local", "proj1", "files"))
    sizes = [part.num_rows for part in read_endpoints(client, info)]
    assert len(sizes) > 2
    assert max(sizes) - min(sizes) <= 20  # at most one file of 20 rows apart


def test_get_schema_carries_column_metadata(uri: str, chunked: GeneratedDataset) -> None:
    client = flight.connect(uri)
    result = client.get_schema(flight.FlightDescriptor.for_path("local", "proj1", "sessions"))
    field = result.schema.field("weight")
    meta = {k.decode(): v.decode() for k, v in field.metadata.items()}
    assert meta[ColumnMetadataKey.TABLE_NAME] == "sessions"
    assert meta[ColumnMetadataKey.SCHEMA_NAME] == "proj1"
    assert meta[ColumnMetadataKey.CATALOG_NAME] == "local"
    assert meta[ColumnMetadataKey.TYPE_NAME] == "DECIMAL(10,2)"
    assert (meta[ColumnMetadataKey.PRECISION], meta[ColumnMetadataKey.SCALE]) == ("10", "2")


def test_bad_paths_get_clear_statuses(uri: str) -> None:
    client = flight.connect(uri)
    with pytest.raises(pa.ArrowKeyError, match="does not exist"):
        client.get_flight_info(flight.FlightDescriptor.for_path("local", "proj1", "nope"))
    with pytest.raises(pa.ArrowInvalid, match="catalog, schema, table"):
        client.get_schema(flight.FlightDescriptor.for_path("local", "proj1"))
    assert sql(client, "SELECT 1 AS one").num_rows == 1


def test_dask_example_reads_a_table_in_parallel(uri: str) -> None:
    from dask.distributed import Client, LocalCluster

    spec = importlib.util.spec_from_file_location(
        "dask_parallel_read", REPO / "clients" / "examples" / "dask_parallel_read.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    client = flight.connect(uri)
    expected = sql(client, "SELECT * FROM local.proj1.files").to_pandas()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        Client(cluster),
    ):
        frame = example.read_table(uri, "local", "proj1", "files")
        assert frame.npartitions > 1
        got = frame.compute()
    assert list(got.columns) == list(expected.columns)
    assert sorted(got.astype(str).values.tolist()) == sorted(expected.astype(str).values.tolist())
