"""Write a synthetic Flywheel dataset in any of the three layouts, traps included.

The dataset exercises what a reader must get right (see ``flywheel-datasets.md``):
versions found by ``created`` not by folder name, legacy pointers, hive partitions,
files that disagree on columns, an empty table, ignored files, undescribed folders,
schema files without data, and optionally broken version folders.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc

from flight_server.demo.content import World, build_world, hex_id
from flight_server.demo.model import (
    LAYOUTS,
    BrokenVersion,
    GeneratedDataset,
    GeneratedTable,
    GeneratedVersion,
    Layout,
)
from flight_server.demo.output import (
    Sink,
    chunk_name,
    description_doc,
    iso,
    project_doc,
    schema_doc,
    snapshot_doc,
)
from flight_server.demo.tables import (
    ACQUISITIONS,
    ANALYSES,
    CONDITIONS,
    FILES,
    HEADER_DICOM,
    QC_RESULTS,
    SCRATCH,
    SESSIONS,
    SUBJECTS,
    TableSpec,
)

DEFAULT_PROJECT_ID = "6543a1b2c3d4e5f607182930"
FIRST_CREATED = datetime(2025, 9, 24, 20, 24, 22, 4000, tzinfo=UTC)

_CONTAINERS = (SUBJECTS, SESSIONS, ACQUISITIONS, FILES, ANALYSES)
# Which table gets what decides exposure: a folder plus a schema file or description entry.
_DESCRIBED = (*_CONTAINERS, QC_RESULTS, HEADER_DICOM)  # entries in dataset_description.json
_SCHEMA_FILES = (*_CONTAINERS, CONDITIONS, HEADER_DICOM)  # schemas/{table}.schema.json
_FOLDERS = (*_CONTAINERS, CONDITIONS, QC_RESULTS, SCRATCH)  # tables/{table}/
_DESCRIBED_NAMES = {s.name for s in _DESCRIBED}
_SCHEMA_NAMES = {s.name for s in _SCHEMA_FILES}
EXPOSED = tuple(sorted(s.name for s in _FOLDERS if s.name in _DESCRIBED_NAMES | _SCHEMA_NAMES))
# Tables whose column descriptions reach a reader: a description entry or a full schema file.
_COLUMNS_DESCRIBED = _DESCRIBED_NAMES | {s.name for s in _SCHEMA_FILES if not s.tabular}
UNEXPOSED = (HEADER_DICOM.name, SCRATCH.name)

# Files readers must skip, per table folder (relative paths).
_HIDDEN_PARQUET = b"PAR1 not a parquet file: readers must skip dot files PAR1"
_IGNORED = {
    SESSIONS.name: (("_SUCCESS", b""), (".hidden.parquet", _HIDDEN_PARQUET)),
    ACQUISITIONS.name: (("modality=MR/_SUCCESS", b""),),
}


@dataclass(frozen=True)
class _Project:
    id: str
    label: str
    group: str


@dataclass(frozen=True)
class _Meta:
    id: str
    label: str
    created: datetime


def has_dataset(fs: fsspec.AbstractFileSystem, root: str) -> bool:
    """Whether ``root`` already holds a dataset in any layout."""
    markers = ("versions", "latest", "latest_version.json")
    return any(fs.exists(f"{root}/{marker}") for marker in markers)


def write_dataset(
    root: str,
    *,
    fs: fsspec.AbstractFileSystem | None = None,
    layout: Layout = "current",
    subjects: int = 20,
    versions: int = 2,
    seed: int = 0,
    project_id: str = DEFAULT_PROJECT_ID,
    project_label: str = "proj1",
    group: str = "neuro",
    chunk_rows: int = 10_000,
    broken_extras: bool = False,
) -> GeneratedDataset:
    """Write a deterministic demo dataset under ``root`` and describe what was written.

    Refuses a root that already holds a dataset: mixing two runs would make the
    returned description wrong.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if subjects < 1 or versions < 1 or chunk_rows < 1:
        raise ValueError("subjects, versions and chunk_rows must be at least 1")
    fs = fs or fsspec.filesystem("file")
    root = fs._strip_protocol(root).rstrip("/")
    if has_dataset(fs, root):
        raise FileExistsError(f"{root} already holds a dataset")

    rng = random.Random(seed)
    project = _Project(project_id, project_label, group)
    metas = _version_metas(rng, versions)
    world = build_world(
        rng,
        subjects=subjects,
        versions=versions,
        group=group,
        project_id=project_id,
        created=[m.created for m in metas],
    )
    sink = Sink(fs)
    written = []
    for index, meta in enumerate(metas):
        latest = index == len(metas) - 1
        folder = _version_folder(root, layout, meta.id, latest)
        doc = _write_provenance(sink, folder, project, meta, iso(meta.created))
        _write_common(sink, folder, project)
        files_rng = random.Random(f"{seed}/{meta.id}")
        tables = {
            spec.name: _write_table(sink, folder, spec, world, index, files_rng, chunk_rows)
            for spec in _FOLDERS
        }
        written.append(
            GeneratedVersion(
                id=meta.id,
                label=meta.label,
                created=meta.created,
                latest=latest,
                path=folder,
                tables=MappingProxyType({n: tables[n] for n in EXPOSED}),
            )
        )
    # Legacy pointers are copies of the latest description (``doc`` of the last loop).
    if layout == "legacy_b":
        sink.json(f"{root}/versions/latest_version.json", doc)
    elif layout == "legacy_a":
        sink.json(f"{root}/latest_version.json", doc)
    broken = _write_broken(sink, root, project, world, seed) if broken_extras else ()
    return GeneratedDataset(
        root=root,
        layout=layout,
        project_id=project_id,
        project_label=project_label,
        group=group,
        versions=tuple(written),
        exposed_tables=EXPOSED,
        unexposed_tables=UNEXPOSED,
        broken=broken,
    )


def _version_metas(rng: random.Random, count: int) -> list[_Meta]:
    """Versions oldest first, ``created`` strictly increasing (millisecond precision)."""
    # Ids sort opposite to creation: the newest version has the smallest folder name,
    # so a reader that picks the latest by name picks wrong.
    ids = sorted((hex_id(rng) for _ in range(count)), reverse=True)
    return [
        _Meta(
            id=version_id,
            label=f"v{index + 1}",
            created=FIRST_CREATED
            + timedelta(days=35 * index, milliseconds=rng.randrange(86_400_000) if index else 0),
        )
        for index, version_id in enumerate(ids)
    ]


def _version_folder(root: str, layout: Layout, version_id: str, latest: bool) -> str:
    """Legacy layouts keep the current version under a fixed ``latest`` name."""
    if latest and layout == "legacy_b":
        return f"{root}/latest"
    if latest and layout == "legacy_a":
        return f"{root}/versions/latest"
    return f"{root}/versions/{version_id}"


def _write_provenance(
    sink: Sink, folder: str, project: _Project, meta: _Meta, created: str
) -> dict[str, Any]:
    """Write the description and snapshot record of a version; return the description."""
    doc = description_doc(
        project_id=project.id,
        project_label=project.label,
        group=project.group,
        version_id=meta.id,
        label=meta.label,
        created=created,
        tables=list(_DESCRIBED),
    )
    sink.json(f"{folder}/provenance/dataset_description.json", doc)
    sink.json(
        f"{folder}/provenance/snapshot_info.json", snapshot_doc(version_id=meta.id, created=created)
    )
    return doc


def _write_common(sink: Sink, folder: str, project: _Project) -> None:
    """Files every version folder has, valid or not: project record and schema files."""
    sink.json(
        f"{folder}/provenance/project.json",
        project_doc(project_id=project.id, project_label=project.label, group=project.group),
    )
    for index, spec in enumerate(_SCHEMA_FILES):
        # Alternate ``schema``/``id`` and ``$schema``/``$id``: both are in the wild.
        doc = schema_doc(spec, dollar=index % 2 == 1, minimal=spec.tabular)
        sink.json(f"{folder}/schemas/{spec.name}.schema.json", doc)


def _parts(spec: TableSpec, world: World, version: int) -> list[tuple[str, pa.Table]]:
    """The table split into (sub-folder, rows) parts: per source file or per partition."""
    if spec.tabular:
        return [("", t) for t in world.tabular_files(spec, version)]
    table = world.table(spec, version)
    if spec.partition is None:
        return [("", table)]
    column = spec.partition
    values = sorted(set(table.column(column).to_pylist()))
    return [
        (f"/{column}={value}", table.filter(pc.equal(table[column], value)).drop_columns(column))
        for value in values
    ]


def _write_table(
    sink: Sink,
    folder: str,
    spec: TableSpec,
    world: World,
    version: int,
    rng: random.Random,
    chunk_rows: int,
) -> GeneratedTable:
    """Write one table folder: chunks, one file per source, or a single empty file."""
    base = f"{folder}/tables/{spec.name}"
    parts = [(sub, t) for sub, t in _parts(spec, world, version) if t.num_rows]
    files: list[str] = []
    if not parts:
        empty = pa.Table.from_pylist([], schema=spec.file_schema())
        files.append(sink.parquet(f"{base}/{spec.name}.parquet", empty))
    for sub, table in parts:
        step = table.num_rows if spec.tabular else chunk_rows
        for offset in range(0, table.num_rows, step):
            chunk = table.slice(offset, step)
            files.append(sink.parquet(f"{base}{sub}/{chunk_name(rng)}", chunk))
    ignored = tuple(sink.bytes(f"{base}/{rel}", data) for rel, data in _IGNORED.get(spec.name, ()))
    return GeneratedTable(
        name=spec.name,
        files=tuple(files),
        rows=sum(t.num_rows for _, t in parts),
        partitions=(spec.partition,) if spec.partition else (),
        description=spec.description,
        column_descriptions=MappingProxyType(
            {c.name: c.description for c in spec.columns} if spec.name in _COLUMNS_DESCRIBED else {}
        ),
        ignored_files=ignored,
    )


def _write_broken(
    sink: Sink, root: str, project: _Project, world: World, seed: int
) -> tuple[BrokenVersion, ...]:
    """Three folders under ``versions/`` that must never win "latest".

    Each holds real data and an id that sorts after every valid one, and the two with a
    description carry a ``created`` that compares greater than any valid one as text.
    """
    rng = random.Random(f"{seed}/broken")
    broken = []
    for kind in ("invalid_json", "bad_created", "no_description"):
        version_id = "ff" + hex_id(rng)[2:]
        folder = f"{root}/versions/{version_id}"
        label = "undated" if kind == "bad_created" else None
        if kind == "invalid_json":
            text = f'{{"id": "{project.id}", "version": "{version_id}", "created": "2099-01-01T'
            sink.bytes(f"{folder}/provenance/dataset_description.json", text.encode())
        elif kind == "bad_created":
            meta = _Meta(version_id, "undated", FIRST_CREATED)
            _write_provenance(sink, folder, project, meta, "24/09/2099 20:24:22")
        _write_common(sink, folder, project)
        table = _write_table(sink, folder, SUBJECTS, world, 0, rng, 10_000)
        broken.append(BrokenVersion(kind, folder, version_id, label, {SUBJECTS.name: table.rows}))
    return tuple(broken)
