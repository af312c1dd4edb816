"""One storage contract, checked the same way on local disk, moto S3, the GCS emulator and
Azurite: what the catalog and DuckDB ask of a backend (listing, file info, tail reads and
literal globs through the anchored filesystem) and what the router refuses.

Needs the fixtures of tests/servers/fixtures.py (loaded by the root conftest.py).
"""

from __future__ import annotations

import io
import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.catalog.layout import read_versions
from flight_server.storage import Location, open_location
from flight_server.storage.anchored import anchored
from flight_server.storage.routing import PROTOCOL, DatasetRouter, RoutingError

BUCKET = "fw-conformance"
BACKENDS = ("fs", "s3", "gs", "az")
DESCRIPTION = "versions/v1/provenance/dataset_description.json"
PARQUET = "versions/v1/tables/subjects/0-0.parquet"
# Larger than the tail the anchored filesystem keeps (64 KiB), so reads reach both parts.
BLOB = "versions/v1/tables/blobs/data.bin"
BLOB_SIZE = 200_000


def _parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": ["s1", "s2", "s3"], "age": [1.5, None, 3.0]}), sink)
    return sink.getvalue()


FILES = {
    DESCRIPTION: json.dumps({"version": "v1", "created": "2025-01-01T00:00:00Z"}).encode(),
    "versions/v1/schemas/subjects.schema.json": b'{"description": "people"}',
    PARQUET: _parquet_bytes(),
    BLOB: random.Random(1).randbytes(BLOB_SIZE),
}
#: A file beside the dataset root, which nothing routed at the root may reach.
OUTSIDE = "outside.txt"


@dataclass(frozen=True)
class Dataset:
    """A dataset root written on one backend, and the filesystem that serves it."""

    backend: str
    location: Location
    fs: fsspec.AbstractFileSystem

    @property
    def root(self) -> str:
        return self.location.root

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"


@pytest.fixture(params=BACKENDS)
def dataset(request: pytest.FixtureRequest, tmp_path: Path) -> Dataset:
    """``FILES`` under a fresh root on each backend, and ``OUTSIDE`` beside that root."""
    backend = request.param
    parent = f"site-{uuid.uuid4().hex[:8]}"
    if backend == "fs":
        for relative, data in {**FILES, f"../{OUTSIDE}": b"outside"}.items():
            target = tmp_path / parent / "ds" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        location = Location("fs", str((tmp_path / parent / "ds").resolve()))
        return Dataset(backend, location, open_location(location))
    server = request.getfixturevalue(
        {"s3": "s3_server", "gs": "gcs_server", "az": "azurite_server"}[backend]
    )
    if backend == "az":
        server.create_container(BUCKET)
    else:
        server.create_bucket(BUCKET)
    location = Location(backend, BUCKET, f"{parent}/ds", server.location_options())
    fs = open_location(location)
    for relative, data in FILES.items():
        fs.pipe(f"{location.root}/{relative}", data)
    fs.pipe(f"{BUCKET}/{parent}/{OUTSIDE}", b"outside")
    return Dataset(backend, location, fs)


def _anchored(dataset: Dataset) -> fsspec.AbstractFileSystem:
    return anchored(dataset.fs, dataset.root, f"fwconformance{uuid.uuid4().hex}")


def test_lists_a_dataset_root(dataset: Dataset) -> None:
    listing = dataset.fs.find(dataset.root, detail=True)
    found = {path[len(dataset.root) + 1 :]: int(info["size"]) for path, info in listing.items()}
    assert found == {relative: len(data) for relative, data in FILES.items()}
    top = [path.rstrip("/") for path in dataset.fs.ls(dataset.root, detail=False)]
    assert top == [dataset.path("versions")]
    # The catalog reads the same listing into a version.
    (version,), problems = read_versions(dataset.fs, dataset.root)
    assert problems == []
    assert (version.id, sorted(version.tables)) == ("v1", ["subjects"])
    assert version.tables["subjects"].loaded.file_rows == {dataset.path(PARQUET): 3}
    assert version.tables["subjects"].remarks == "people"


def test_file_info_through_the_anchored_filesystem(dataset: Dataset) -> None:
    fs = _anchored(dataset)
    info = fs.info(PARQUET)
    assert info["type"] == "file"
    assert int(info["size"]) == fs.size(PARQUET) == len(FILES[PARQUET])
    assert fs.size(BLOB) == BLOB_SIZE
    modified = fs.modified(PARQUET)
    assert isinstance(modified, datetime) and modified.tzinfo is None
    assert modified.year >= 2025
    assert pq.read_metadata(PARQUET, filesystem=fs).num_rows == 3
    with pytest.raises(FileNotFoundError):
        fs.info("versions/v1/tables/subjects/missing.parquet")
    # DuckDB asks for a file's size on every open: the answer is remembered per file.
    dataset.fs.pipe(dataset.path(PARQUET), b"rewritten")
    assert fs.size(PARQUET) == len(FILES[PARQUET])


def test_tail_reads_are_served_from_memory(dataset: Dataset) -> None:
    fs = _anchored(dataset)
    data = FILES[BLOB]
    with fs.open(BLOB) as handle:
        handle.seek(-1000, 2)
        assert handle.read() == data[-1000:]
        handle.seek(1000)
        assert handle.read(500) == data[1000:1500]
        handle.seek(BLOB_SIZE - 70_000)  # from before the tail into it
        assert handle.read(10_000) == data[-70_000:-60_000]
        handle.seek(0)
        assert handle.read() == data
    # Dataset files never change, so a changed file's tail still comes from memory (what
    # spares the store a footer read per query), while the rest is read from the store.
    changed = bytes(255 - b for b in data)
    dataset.fs.pipe(dataset.path(BLOB), changed)
    with fs.open(BLOB) as handle:
        handle.seek(-1000, 2)
        assert handle.read() == data[-1000:]
        handle.seek(0)
        assert handle.read(1000) == changed[:1000]


def test_anchored_glob_of_a_literal_path_is_the_path(dataset: Dataset) -> None:
    fs = _anchored(dataset)
    assert fs.glob(PARQUET) == [PARQUET]
    # Literal paths are answered without asking the store, so a missing one comes back
    # too (opening it fails instead).
    missing = "versions/v1/tables/subjects/none.parquet"
    assert fs.glob(missing) == [missing]
    assert fs.glob("versions/*/tables/*/*.parquet") == [PARQUET]
    assert sorted(fs.glob("versions/v1/tables/*/*")) == sorted([BLOB, PARQUET])


def test_routing_reads_inside_and_refuses_everything_else(dataset: Dataset) -> None:
    router = DatasetRouter()
    prefix = router.route(f"conformance/{dataset.backend}", dataset.fs, dataset.root)
    assert prefix.startswith(f"{PROTOCOL}://") and prefix.endswith("/")
    assert router.cat_file(prefix + DESCRIPTION) == FILES[DESCRIPTION]
    assert router.info(prefix + PARQUET)["name"] == prefix + PARQUET
    assert router.size(prefix + BLOB) == BLOB_SIZE
    assert router.glob(prefix + "versions/v1/tables/subjects/*") == [prefix + PARQUET]
    with router.open(prefix + PARQUET) as handle:
        assert handle.read() == FILES[PARQUET]
    # What the refusals below protect is really there, next to the dataset.
    assert dataset.fs.cat_file(f"{dataset.root.rsplit('/', 1)[0]}/{OUTSIDE}") == b"outside"
    key = prefix[len(f"{PROTOCOL}://") : -1]
    refused = [
        prefix + f"../{OUTSIDE}",
        prefix + f"versions/../../{OUTSIDE}",
        prefix + f"./../{OUTSIDE}",
        prefix + "versions\\..\\..\\" + OUTSIDE,
        f"{PROTOCOL}://{key}//{dataset.root.rsplit('/', 1)[0]}/{OUTSIDE}",
        f"{PROTOCOL}://{'0' * len(key)}/{DESCRIPTION}",
        f"{PROTOCOL}://{DESCRIPTION}",
    ]
    for url in refused:
        with pytest.raises(RoutingError):
            router.cat_file(url)
        with pytest.raises(RoutingError):
            router.open(url)
        with pytest.raises(RoutingError):
            router.info(url)
        assert not router.exists(url), url
    with pytest.raises(RoutingError, match="read-only"):
        router.open(prefix + "versions/v1/new.txt", "wb")
    with pytest.raises(RoutingError, match="read-only"):
        router.rm(prefix + PARQUET)
