"""fw_flight.dask on a two-worker LocalCluster: partitions are endpoints (or whole records)."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from dask.distributed import Client, LocalCluster
from fw_flight.client import connection_options
from fw_flight.dask import read_sql, read_table

from flight_server.demo import GeneratedDataset
from tests.support import credentialed_server, duckdb_reference

TOKEN = "dask-reader-token"
SESSION = "parents.session"
#: A bigint with nulls, a decimal(10, 2) and a zoned timestamp: what a trip through numpy loses.
SESSIONS_SQL = (
    "SELECT label, CASE WHEN visit = 1 THEN age END AS age, weight, timestamp"
    " FROM local.proj1.sessions"
)


@pytest.fixture(scope="module")
def uri(demo: GeneratedDataset) -> Iterator[str]:
    """A server that wants credentials: a static token, or a user name and password."""
    with credentialed_server(demo.root, TOKEN, "dask") as served:
        yield served


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[Client]:
    """Two worker processes, so every partition is read away from the client."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as local,
        Client(local) as client,
    ):
        yield client


def adbc(uri: str, sql: str) -> tuple[pa.Table, int]:
    """ADBC's result for ``sql`` and how many partitions it offers."""
    options = connection_options(bearer=TOKEN)
    with flight_sql.connect(uri, db_kwargs=options, autocommit=True) as conn:
        with conn.cursor() as cursor:
            partitions, _schema = cursor.adbc_execute_partitions(sql)
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetch_arrow_table(), len(partitions)


def exact_dtypes(schema: pa.Schema) -> dict[str, pd.ArrowDtype]:
    return {f.name: pd.ArrowDtype(f.type) for f in schema}


def ordered(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


def test_read_table_has_one_partition_per_endpoint_and_adbc_s_rows(uri: str) -> None:
    with flight.connect(uri) as client:
        options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKEN}".encode())])
        descriptor = flight.FlightDescriptor.for_path("local", "proj1", "acquisitions")
        endpoints = len(client.get_flight_info(descriptor, options).endpoints)
    assert endpoints > 1
    ddf = read_table(uri, "local.proj1.acquisitions", token=TOKEN)
    assert ddf.npartitions == endpoints
    expected, _ = adbc(uri, "SELECT * FROM local.proj1.acquisitions")
    assert ddf.dtypes.to_dict() == exact_dtypes(expected.schema)
    frame = ddf.compute()
    assert frame.dtypes.to_dict() == exact_dtypes(expected.schema)
    pd.testing.assert_frame_equal(
        ordered(frame, "id"), ordered(expected.to_pandas(types_mapper=pd.ArrowDtype), "id")
    )


def test_read_sql_keeps_nullable_ints_decimals_and_zones(uri: str) -> None:
    expected, partitions = adbc(uri, SESSIONS_SQL)
    assert expected.column("age").null_count > 0
    ddf = read_sql(uri, SESSIONS_SQL, username="ana", password="pw")
    assert ddf.npartitions == partitions
    assert ddf.dtypes.to_dict() == {
        "label": pd.ArrowDtype(pa.string()),
        "age": pd.ArrowDtype(pa.int64()),
        "weight": pd.ArrowDtype(pa.decimal128(10, 2)),
        "timestamp": pd.ArrowDtype(pa.timestamp("us", tz="UTC")),
    }
    pd.testing.assert_frame_equal(
        ordered(ddf.compute(), "label"),
        ordered(expected.to_pandas(types_mapper=pd.ArrowDtype), "label"),
    )


def test_read_sql_reads_every_endpoint_of_a_split_query(uri: str) -> None:
    sql = "SELECT id, series_number, timestamp FROM local.proj1.acquisitions"
    expected, partitions = adbc(uri, sql)
    assert partitions > 1  # a scan over one table: the server splits it (issue 16 item 1)
    ddf = read_sql(uri, sql, token=TOKEN)
    assert ddf.npartitions == partitions
    pd.testing.assert_frame_equal(
        ordered(ddf.compute(), "id"), ordered(expected.to_pandas(types_mapper=pd.ArrowDtype), "id")
    )


def test_columns_and_filters_go_into_the_query(uri: str) -> None:
    ddf = read_table(
        uri,
        "local.proj1.acquisitions",
        columns=["id", "modality"],
        filters=[("modality", "==", "CT"), ("id", "not in", ["x'y"])],
        token=TOKEN,
    )
    frame = ddf.compute()
    expected, _ = adbc(uri, "SELECT id FROM local.proj1.acquisitions WHERE modality = 'CT'")
    assert list(frame.columns) == ["id", "modality"]
    assert set(frame["modality"]) == {"CT"}
    assert sorted(frame["id"]) == sorted(expected.column("id").to_pylist())


def keys_by_partition(frame: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    keys = pd.unique(frame.index.to_numpy())
    number = partition_info["number"] if partition_info else -1
    return pd.DataFrame({"key": keys, "partition": number})


def test_records_are_never_split_and_per_record_work_needs_no_shuffle(
    uri: str, demo: GeneratedDataset
) -> None:
    ddf = read_table(
        uri,
        "local.proj1.acquisitions",
        filters=[("modality", "==", "MR")],
        records=SESSION,
        npartitions=3,
        token=TOKEN,
    )
    assert ddf.npartitions == 3 and ddf.known_divisions
    assert ddf.index.name == SESSION
    placed = ddf.map_partitions(keys_by_partition, meta={"key": object, "partition": int})
    placed = placed.compute()
    assert placed["key"].is_unique  # every record in exactly one partition
    divisions = ddf.divisions
    for key, number in zip(placed["key"], placed["partition"], strict=True):
        low, high = divisions[number], divisions[number + 1]
        assert low <= key and (key <= high if number == ddf.npartitions - 1 else key < high)

    def per_session(group: pd.DataFrame) -> pd.Series:
        return pd.Series({"acquisitions": len(group), "series": int(group["series_number"].max())})

    meta = {"acquisitions": "int64", "series": "int64"}
    work = ddf.groupby(SESSION).apply(per_session, meta=meta)
    assert not any("shuffle" in str(key) for key in work.__dask_graph__())
    # The check above sees a shuffle where there is one: the same work without divisions.
    unsorted = ddf.clear_divisions().groupby(SESSION).apply(per_session, meta=meta)
    assert any("shuffle" in str(key) for key in unsorted.__dask_graph__())
    got = work.compute().sort_index()

    reference = duckdb_reference(
        demo.latest.tables["acquisitions"],
        f'SELECT "{SESSION}", count(*) AS acquisitions, max(series_number) AS series'
        f" FROM t WHERE modality = 'MR' GROUP BY 1 ORDER BY 1",
    ).to_pandas()
    assert set(placed["key"]) == set(reference[SESSION])
    assert got.index.tolist() == reference[SESSION].tolist()
    assert got["acquisitions"].tolist() == reference["acquisitions"].tolist()
    assert got["series"].tolist() == reference["series"].tolist()


def test_records_key_must_be_a_column(uri: str) -> None:
    with pytest.raises(ValueError, match="not a column"):
        read_sql(uri, SESSIONS_SQL, records="parents.nothing", token=TOKEN)
