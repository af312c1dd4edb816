"""A large single-table dataset for benchmarks, generated in bounded-memory batches."""

from __future__ import annotations

import random
from types import MappingProxyType

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flight_server.demo.content import hex_id
from flight_server.demo.generate import DEFAULT_PROJECT_ID, FIRST_CREATED, has_dataset
from flight_server.demo.model import GeneratedDataset, GeneratedTable, GeneratedVersion
from flight_server.demo.output import (
    Sink,
    chunk_name,
    description_doc,
    iso,
    project_doc,
    schema_doc,
)
from flight_server.demo.tables import SCAN

_CATEGORIES = pa.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
_TAG_WORDS = pa.array(["red", "green", "blue", "hot", "cold"])
_EPOCH_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z


def write_scan_table(
    root: str,
    rows: int,
    *,
    files: int,
    seed: int = 0,
    fs: fsspec.AbstractFileSystem | None = None,
    batch_rows: int = 1_000_000,
    project_label: str = "scan",
    group: str = "bench",
) -> GeneratedDataset:
    """Write table ``scan`` of ``rows`` rows over ``files`` files as a one-version dataset.

    Rows are split evenly over the files; each file is written in row groups of at most
    ``batch_rows`` rows generated with numpy, so memory does not grow with ``rows``.
    """
    if rows < 0 or files < 1 or batch_rows < 1:
        raise ValueError("rows must be >= 0, files and batch_rows >= 1")
    fs = fs or fsspec.filesystem("file")
    root = fs._strip_protocol(root).rstrip("/")
    if has_dataset(fs, root):
        raise FileExistsError(f"{root} already holds a dataset")
    rng = random.Random(f"scan/{seed}")  # ids distinct from the demo dataset of the same seed
    version_id = hex_id(rng)
    folder = f"{root}/versions/{version_id}"
    sink = Sink(fs)
    created = iso(FIRST_CREATED)
    doc = description_doc(
        project_id=DEFAULT_PROJECT_ID,
        project_label=project_label,
        group=group,
        version_id=version_id,
        label="v1",
        created=created,
        tables=[SCAN],
    )
    sink.json(f"{folder}/provenance/dataset_description.json", doc)
    sink.json(
        f"{folder}/provenance/project.json",
        project_doc(project_id=DEFAULT_PROJECT_ID, project_label=project_label, group=group),
    )
    sink.json(f"{folder}/schemas/scan.schema.json", schema_doc(SCAN, dollar=True))

    base = f"{folder}/tables/scan"
    schema = SCAN.file_schema()
    paths = []
    if rows == 0:
        paths.append(sink.parquet(f"{base}/scan.parquet", schema.empty_table()))
    count = min(files, rows)
    start = 0
    for index in range(count):
        size = rows // count + (index < rows % count)
        path = f"{base}/{chunk_name(rng)}"
        with sink.parquet_writer(path, schema) as writer:
            for offset in range(start, start + size, batch_rows):
                n = min(batch_rows, start + size - offset)
                writer.write_table(_batch(offset, n, seed), row_group_size=n)
        paths.append(path)
        start += size

    table = GeneratedTable(
        name=SCAN.name,
        files=tuple(paths),
        rows=rows,
        partitions=(),
        description=SCAN.description,
        column_descriptions=MappingProxyType({c.name: c.description for c in SCAN.columns}),
        ignored_files=(),
    )
    version = GeneratedVersion(
        id=version_id,
        label="v1",
        created=FIRST_CREATED,
        latest=True,
        path=folder,
        tables=MappingProxyType({SCAN.name: table}),
    )
    return GeneratedDataset(
        root=root,
        layout="current",
        project_id=DEFAULT_PROJECT_ID,
        project_label=project_label,
        group=group,
        versions=(version,),
        exposed_tables=(SCAN.name,),
        unexposed_tables=(),
        broken=(),
    )


def _batch(first: int, count: int, seed: int) -> pa.Table:
    """Rows ``first .. first+count-1``; seeded by position, so any batch is reproducible."""
    gen = np.random.default_rng([seed, first])
    ids = np.arange(first, first + count, dtype=np.int64)
    id_array = pa.array(ids)
    lengths = gen.integers(0, 4, count, dtype=np.int32)
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    words = _TAG_WORDS.take(gen.integers(0, len(_TAG_WORDS), int(offsets[-1])))
    columns = [
        id_array,
        pa.array(gen.integers(0, 1000, count, dtype=np.int32)),
        pa.array(gen.standard_normal(count), mask=gen.random(count) < 0.01),
        pa.array(gen.random(count) < 0.5),
        _CATEGORIES.take(gen.integers(0, len(_CATEGORIES), count)),
        pc.binary_join_element_wise("row-", pc.cast(id_array, pa.string()), ""),
        pa.array(ids * 1_000_000 + _EPOCH_US, type=pa.timestamp("us", tz="UTC")),
        pa.ListArray.from_arrays(pa.array(offsets), words),
    ]
    return pa.Table.from_arrays(columns, schema=SCAN.file_schema())
