"""Datasets on S3, GCS and Azure (real emulators) served through the server, read with ADBC."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.storage import Location, open_location
from tests.servers.azurite import AzuriteServer
from tests.servers.gcs import GCSServer
from tests.servers.s3 import S3Server
from tests.support import duckdb_reference, running_server, upload

BUCKET = "fw-datasets"
LAYOUTS = ("current", "legacy_b")
_counter = itertools.count()


@pytest.fixture(scope="module")
def local_copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GeneratedDataset]:
    base = tmp_path_factory.mktemp("cloud-sources")
    return {
        layout: write_dataset(str(base / layout), layout=layout, subjects=6, versions=2, seed=3)
        for layout in LAYOUTS
    }


@pytest.fixture(scope="module")
def stores(
    s3_server: S3Server, gcs_server: GCSServer, azurite_server: AzuriteServer
) -> dict[str, tuple[str, dict[str, str]]]:
    """Storage type → (URL start, location options) for each emulator, bucket created."""
    s3_server.create_bucket(BUCKET)
    gcs_server.create_bucket(BUCKET)
    azurite_server.create_container(BUCKET)
    azure = azurite_server.location_options()
    return {
        "s3": ("s3://", s3_server.location_options()),
        "gs": ("gs://", gcs_server.location_options()),
        # Azure URLs name the account before the container.
        "az": (f"az://{azure['account_name']}/", azure),
    }


@pytest.fixture(scope="module")
def cloud_uri(
    stores: dict[str, tuple[str, dict[str, str]]], local_copies: dict[str, GeneratedDataset]
) -> Iterator[str]:
    """One server serving every layout from every store, as ``local.<store>_<layout>``."""
    datasets = []
    for (storage, (url_start, options)), (layout, local) in itertools.product(
        stores.items(), local_copies.items()
    ):
        prefix = f"site/{layout}-{next(_counter)}"
        location = Location(storage, BUCKET, prefix, options)
        assert upload(local.root, open_location(location), location.root) > 10
        datasets.append(
            DatasetSettings(
                name=f"{storage}_{layout}",
                location=f"{url_start}{BUCKET}/{prefix}",
                options=options,
            )
        )
    with running_server(Settings(datasets=datasets)) as uri:
        yield uri


def fetch(uri: str, query: str) -> pa.Table:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("storage", ["s3", "gs", "az"])
def test_every_table_equals_duckdb_over_local_copies(
    cloud_uri: str, local_copies: dict[str, GeneratedDataset], storage: str, layout: str
) -> None:
    local = local_copies[layout]
    for name, table in local.latest.tables.items():
        expected = duckdb_reference(table, "SELECT * FROM t ORDER BY ALL")
        got = fetch(cloud_uri, f"SELECT * FROM local.{storage}_{layout}.{name} ORDER BY ALL")
        assert got.equals(expected), f"{storage} {layout} {name}"
    oldest = local.versions[0]
    pinned = fetch(
        cloud_uri, f'SELECT count(*) AS n FROM local."{storage}_{layout}@{oldest.label}".sessions'
    )
    assert pinned.to_pylist() == [{"n": local.row_counts()[oldest.label]["sessions"]}]


def test_partition_filter_reads_only_matching_files(
    s3_server: S3Server, stores: dict[str, tuple[str, dict[str, str]]], tmp_path: Path
) -> None:
    # Small chunks: several files per partition, so pruning is visible file by file.
    local = write_dataset(str(tmp_path / "pruned"), subjects=6, versions=1, chunk_rows=4)
    options = stores["s3"][1]
    prefix = f"pruning/{next(_counter)}"
    location = Location("s3", BUCKET, prefix, options)
    upload(local.root, open_location(location), location.root)
    acquisitions = local.latest.tables["acquisitions"]
    keys = {path: f"{prefix}/{path[len(local.root) + 1 :]}" for path in acquisitions.files}
    mr_keys = {key for path, key in keys.items() if "/modality=MR/" in path}
    ct_keys = {key for path, key in keys.items() if "/modality=CT/" in path}
    assert len(mr_keys) > 1 and len(ct_keys) > 1
    settings = Settings(
        datasets=[
            DatasetSettings(name="pruned", location=f"s3://{BUCKET}/{prefix}", options=options)
        ]
    )
    query = "SELECT count(*) AS n FROM local.pruned.acquisitions WHERE modality = 'MR'"
    with running_server(settings) as uri:
        # The table's first use reads every footer (the catalog loads tables lazily);
        # what a query reads after that is what pruning decides.
        fetch(uri, "SELECT count(*) AS n FROM local.pruned.acquisitions WHERE false")
        s3_server.clear_log()
        got = fetch(uri, query)
    expected = duckdb_reference(acquisitions, "SELECT count(*) AS n FROM t WHERE modality = 'MR'")
    assert got.equals(expected)
    read = {r.key for r in s3_server.requests if r.method == "GET"}
    assert mr_keys <= read, "every matching file is read"
    # DuckDB binds the view's schema from the table's first file (files are ordered by
    # path); no other file of the filtered-out partition is touched.
    bind_file = min(keys.values())
    assert read & ct_keys <= {bind_file}, sorted(read & ct_keys)
