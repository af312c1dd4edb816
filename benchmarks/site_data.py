"""Site-scale benchmark data: many tiny datasets, and single tables of many tiny files.

Every parquet file holds ``ROWS_PER_FILE`` rows, so what the server pays for is the count
of datasets, tables, files and schemas, not bytes. Trees are written once under
``bench-data/`` (``benchmarks.data``'s cache) and reused by later runs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.data import _generated
from flight_server.demo.content import hex_id
from flight_server.demo.generate import FIRST_CREATED
from flight_server.demo.output import Sink, chunk_name, description_doc, iso, schema_doc
from flight_server.demo.tables import Column, TableSpec

ROWS_PER_FILE = 10
#: The one table of a single-table dataset.
TABLE = "t"
_COLUMNS = (
    Column("id", pa.int64(), "Id", "Row number, unique in its table"),
    Column("label", pa.string(), "Label", "The row number as text"),
)


def site(datasets: int, tables: int) -> dict[str, str]:
    """``datasets`` datasets of ``tables`` one-file tables each: dataset name → root.

    Dataset names sort in creation order (``d0000``, ``d0001``…), so the first ``n`` of a
    large site are a smaller site of the same shape.
    """
    names = [f"d{index:04d}" for index in range(datasets)]

    def write(at: str) -> None:
        rng = random.Random(f"site/{datasets}x{tables}")
        for name in names:
            files = {f"t{table:02d}": [rows(0)] for table in range(tables)}
            write_version(Path(at, name), name, files, rng)

    root = _generated(f"site-{datasets}x{tables}", write)
    return {name: f"{root}/{name}" for name in names}


def one_table(files: int, groups: int = 1, wide: int = 0) -> str:
    """A dataset whose table ``t`` has ``files`` files in ``groups`` schema groups; its root.

    File ``i`` holds ids ``i * ROWS_PER_FILE`` onwards; with several groups, the files of
    group ``g`` carry one more column, ``extra_{g}``, so no two groups share a schema. With
    ``wide``, every file of a one-schema table carries ``wide`` such columns: as wide as a
    table drifting over ``wide`` groups, without its drift.
    """

    def file_rows() -> Iterable[pa.Table]:
        for index in range(files):
            group = index % groups
            if wide:
                extras = [f"extra_{column:03d}" for column in range(wide)]
            else:
                extras = [f"extra_{group:03d}"] if groups > 1 else []
            yield rows(index * ROWS_PER_FILE, *extras)

    def write(at: str) -> None:
        rng = random.Random(f"table/{files}x{groups}")
        write_version(Path(at), "table", {TABLE: file_rows()}, rng)

    width = f"-{wide}-wide" if wide else ""
    return _generated(f"table-{files}-files-{groups}-groups{width}", write)


def rows(first: int, *extras: str) -> pa.Table:
    """``ROWS_PER_FILE`` rows with ids from ``first``, and the ``extras`` columns named."""
    ids = pa.array(range(first, first + ROWS_PER_FILE), pa.int64())
    columns = {"id": ids, "label": pc.cast(ids, pa.string())}
    for extra in extras:
        columns[extra] = ids
    return pa.table(columns)


def write_version(
    root: Path, label: str, tables: Mapping[str, Iterable[pa.Table]], rng: random.Random
) -> None:
    """One current-layout version under ``root``: a description, a schema file per table,
    and each table's files (one parquet file per item), written with pyarrow directly."""
    version_id = hex_id(rng)
    folder = root / "versions" / version_id
    specs = [TableSpec(name, f"Synthetic table {name}", _COLUMNS) for name in tables]
    sink = Sink(fsspec.filesystem("file"))
    description = description_doc(
        project_id=hex_id(rng),
        project_label=label,
        group="site",
        version_id=version_id,
        label="v1",
        created=iso(FIRST_CREATED),
        tables=specs,
    )
    sink.json(f"{folder}/provenance/dataset_description.json", description)
    for spec, files in zip(specs, tables.values(), strict=True):
        sink.json(f"{folder}/schemas/{spec.name}.schema.json", schema_doc(spec, dollar=True))
        table_folder = folder / "tables" / spec.name
        table_folder.mkdir(parents=True)
        for table in files:
            pq.write_table(table, table_folder / chunk_name(rng))
