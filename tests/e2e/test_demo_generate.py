"""The demo writer produces datasets that follow flywheel-datasets.md, traps included."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.demo import (
    LAYOUTS,
    GeneratedDataset,
    has_dataset,
    write_dataset,
    write_scan_table,
)
from flight_server.demo.__main__ import main

HEX24 = re.compile(r"[0-9a-f]{24}")
CHUNK = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-0\.parquet"
)
NOISE = {"paths", "dataset_info", "fw_storage_info", "conn", "errors", "fully_populate"}


def _json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _query(files: tuple[str, ...], select: str = "count(*)") -> tuple:
    """One row from DuckDB reading exactly these files, as the server's views will."""
    sql = f"SELECT {select} FROM read_parquet($files, union_by_name=true, hive_partitioning=true)"
    with duckdb.connect() as con:
        return con.execute(sql, {"files": list(files)}).fetchone()


def _columns(files: tuple[str, ...]) -> dict[str, str]:
    """Column name to DuckDB type of the union of these files."""
    sql = "DESCRIBE SELECT * FROM read_parquet($files, union_by_name=true, hive_partitioning=true)"
    with duckdb.connect() as con:
        return {r[0]: r[1] for r in con.execute(sql, {"files": list(files)}).fetchall()}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module", params=LAYOUTS)
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(request.param)
    return write_dataset(str(root), layout=request.param, subjects=6, versions=3)


def test_version_folders_and_descriptions(dataset: GeneratedDataset) -> None:
    root = Path(dataset.root)
    created = [v.created for v in dataset.versions]
    assert created == sorted(created) and len(set(created)) == len(created)
    assert [v.latest for v in dataset.versions] == [False, False, True]
    assert dataset.latest is dataset.versions[-1]
    # Folder names sort against creation order: picking "latest" by name must fail.
    ids = [v.id for v in dataset.versions]
    assert all(HEX24.fullmatch(i) for i in ids) and ids == sorted(ids, reverse=True)
    for version in dataset.versions:
        desc = _json(f"{version.path}/provenance/dataset_description.json")
        assert desc["id"] == dataset.project_id and desc["name"] == dataset.project_label
        assert (desc["version"], desc["version_label"]) == (version.id, version.label)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", desc["created"])
        assert datetime.fromisoformat(desc["created"]) == version.created
        assert desc.keys() >= NOISE and desc["description"]
        assert _json(f"{version.path}/provenance/project.json")["label"] == dataset.project_label
        if not version.latest or dataset.layout == "current":
            assert version.path == f"{dataset.root}/versions/{version.id}"
    latest_desc = _json(f"{dataset.latest.path}/provenance/dataset_description.json")
    if dataset.layout == "current":
        assert sorted(p.name for p in (root / "versions").iterdir()) == sorted(ids)
        assert not (root / "latest").exists() and not (root / "latest_version.json").exists()
    elif dataset.layout == "legacy_b":
        assert dataset.latest.path == f"{dataset.root}/latest"
        assert _json(root / "versions" / "latest_version.json") == latest_desc
    else:
        assert dataset.latest.path == f"{dataset.root}/versions/latest"
        assert _json(root / "latest_version.json") == latest_desc


def test_tables_exposed_by_schema_or_description(dataset: GeneratedDataset) -> None:
    assert dataset.exposed_tables == (
        "acquisitions",
        "analyses",
        "conditions",
        "files",
        "qc_results",
        "sessions",
        "subjects",
    )
    for version in dataset.versions:
        folder = Path(version.path)
        folders = {p.name for p in (folder / "tables").iterdir()}
        schemas = {p.name.split(".")[0] for p in (folder / "schemas").iterdir()}
        described = set(_json(folder / "provenance/dataset_description.json")["tables"])
        assert sorted(folders & (schemas | described)) == list(dataset.exposed_tables)
        assert set(version.tables) == set(dataset.exposed_tables)
        # header_dicom: described, no folder; scratch: folder, not described.
        assert "header_dicom" in schemas & described and "header_dicom" not in folders
        assert "scratch" in folders and "scratch" not in schemas | described
        assert set(dataset.unexposed_tables) == {"header_dicom", "scratch"}
        # One exposure path each: conditions has only a schema file, qc_results only an entry.
        assert "conditions" in schemas - described and "qc_results" in described - schemas


def test_schema_files(dataset: GeneratedDataset) -> None:
    docs = {
        p.name.split(".")[0]: _json(p)
        for p in (Path(dataset.latest.path) / "schemas").glob("*.schema.json")
    }
    styles = {("$schema" in d, "$id" in d) for d in docs.values()}
    assert styles == {(True, True), (False, False)}
    for name, doc in docs.items():
        assert doc.get("$id", doc.get("id")) == name and doc["description"]
    assert docs["conditions"]["properties"] == {} and docs["conditions"]["required"] == []
    sessions = docs["sessions"]["properties"]
    assert all(p["description"] and p["title"] for p in sessions.values())
    assert sessions["timestamp"] == {**sessions["timestamp"], "format": "date-time"}
    assert sessions["timestamp"]["type"] == ["string", "null"]
    assert sessions["tags"]["items"] == {"type": "string"}
    assert "code" in docs["subjects"]["required"]
    assert "code" not in docs["subjects"]["properties"]


def test_files_and_ignored_files(dataset: GeneratedDataset) -> None:
    for version in dataset.versions:
        ignored = [f for t in version.tables.values() for f in t.ignored_files]
        assert {Path(f).name for f in ignored} == {"_SUCCESS", ".hidden.parquet"}
        assert all(Path(f).is_file() for f in ignored)
        for name, table in version.tables.items():
            assert table.files and set(table.files).isdisjoint(ignored)
            for path in table.files:
                assert path.startswith(f"{version.path}/tables/{name}/")
                assert CHUNK.fullmatch(Path(path).name) or Path(path).name == f"{name}.parquet"
        hidden = next(f for f in ignored if f.endswith(".hidden.parquet"))
        with pytest.raises(pa.ArrowInvalid):
            pq.read_table(hidden)


def test_duckdb_reads_every_table(dataset: GeneratedDataset) -> None:
    for version in dataset.versions:
        for table in version.tables.values():
            assert _query(table.files) == (table.rows,), (version.label, table.name)
        tables = version.tables
        acquisitions = tables["acquisitions"]
        assert acquisitions.partitions == ("modality",)
        assert all("modality" not in pq.read_schema(f).names for f in acquisitions.files)
        modalities = _query(acquisitions.files, "list(DISTINCT modality ORDER BY modality)")
        assert modalities == (["CT", "MR"],)
        first, second = (pq.read_schema(f).names for f in tables["conditions"].files)
        assert set(second) - set(first) == {"response_time"}
        assert _columns(tables["conditions"].files)["response_time"] == "DOUBLE"
        assert tables["qc_results"].rows == 0
        assert tables["qc_results"].files[0].endswith("/qc_results/qc_results.parquet")
        assert _columns(tables["qc_results"].files)["qc.score"] == "DOUBLE"


def test_newer_versions_have_more_sessions(dataset: GeneratedDataset) -> None:
    counts = dataset.row_counts()
    sessions = [counts[v.label]["sessions"] for v in dataset.versions]
    assert sessions == sorted(set(sessions))
    assert len({counts[v.label]["subjects"] for v in dataset.versions}) == 1
    assert [v.label for v in dataset.versions] == ["v1", "v2", "v3"]
    assert dataset.version("v2") is dataset.version(dataset.versions[1].id)


def test_column_types(dataset: GeneratedDataset) -> None:
    sessions = pq.read_schema(dataset.table("sessions").files[0])
    types = {pa.list_(pa.string()) if pa.types.is_list(f.type) else f.type for f in sessions}
    assert {
        pa.int64(),
        pa.int32(),
        pa.float64(),
        pa.decimal128(10, 2),
        pa.bool_(),
        pa.string(),
        pa.date32(),
        pa.timestamp("us"),
        pa.timestamp("us", tz="UTC"),
        pa.list_(pa.string()),
    } <= types
    assert {"parents.group", "parents.subject", "info"} <= set(sessions.names)
    checks = _query(
        dataset.table("sessions").files,
        "count(*) FILTER (operator IS NULL), count(*) FILTER (operator = ''),"
        " count(*) FILTER (completed IS NULL), count(*) FILTER (weight IS NULL),"
        " count(*) FILTER (tags IS NULL), count(*) FILTER (len(tags) = 0)",
    )
    assert all(n > 0 for n in checks)
    assert _query(dataset.table("sessions").files, "bool_and(json_valid(info))") == (True,)
    files = pq.read_schema(dataset.table("files").files[0])
    assert {"classification.Custom", "parent_ref.type", "parents.analysis"} <= set(files.names)
    analyses = pq.read_schema(dataset.table("analyses").files[0])
    assert {"gear_info.name", "parent.id", "job_id"} <= set(analyses.names)


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    write_dataset(str(a), subjects=3, seed=7, broken_extras=True)
    write_dataset(str(b), subjects=3, seed=7, broken_extras=True)
    write_dataset(str(c), subjects=3, seed=8, broken_extras=True)
    assert _tree(a) == _tree(b)
    assert _tree(a).keys() != _tree(c).keys()


def test_chunks(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path), subjects=8, versions=1, chunk_rows=5)
    for table in dataset.latest.tables.values():
        sizes = [pq.read_metadata(f).num_rows for f in table.files]
        assert sum(sizes) == table.rows
        if table.name not in ("conditions", "qc_results"):
            assert max(sizes) <= 5
    assert len(dataset.table("files").files) > 1


def test_broken_extras(tmp_path: Path) -> None:
    dataset = write_dataset(str(tmp_path), subjects=2, broken_extras=True)
    kinds = {b.kind: b for b in dataset.broken}
    assert set(kinds) == {"invalid_json", "bad_created", "no_description"}
    for broken in dataset.broken:
        assert broken.path == f"{dataset.root}/versions/{broken.id}"
        assert broken.id > max(v.id for v in dataset.versions)
        assert _query(tuple(str(p) for p in Path(broken.path).rglob("*-0.parquet"))) == (2,)
    invalid = Path(kinds["invalid_json"].path, "provenance/dataset_description.json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(invalid.read_text())
    undated = _json(Path(kinds["bad_created"].path, "provenance/dataset_description.json"))
    assert undated["version_label"] == "undated"
    with pytest.raises(ValueError):
        datetime.fromisoformat(undated["created"])
    # As text it beats every real timestamp: only a real parse keeps it from "latest".
    assert undated["created"] > max(v.created.isoformat() for v in dataset.versions)
    assert not Path(kinds["no_description"].path, "provenance/dataset_description.json").exists()
    assert Path(kinds["no_description"].path, "tables").is_dir()


def test_refuses_existing_dataset_and_bad_arguments(tmp_path: Path) -> None:
    write_dataset(str(tmp_path), subjects=1, versions=1)
    with pytest.raises(FileExistsError):
        write_dataset(str(tmp_path), subjects=1)
    with pytest.raises(ValueError):
        write_dataset(str(tmp_path / "x"), layout="legacy_c")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        write_dataset(str(tmp_path / "y"), versions=0)


def test_any_fsspec_filesystem() -> None:
    fs = fsspec.filesystem("memory")
    root = f"/demo-{uuid.uuid4().hex}"
    try:
        dataset = write_dataset(root, fs=fs, subjects=2, versions=1, layout="legacy_b")
        assert has_dataset(fs, root)
        table = dataset.table("subjects")
        assert sum(pq.read_table(f, filesystem=fs).num_rows for f in table.files) == 2
        assert fs.exists(f"{root}/versions/latest_version.json")
    finally:
        fs.rm(root, recursive=True)


def test_scan_table(tmp_path: Path) -> None:
    dataset = write_scan_table(str(tmp_path / "s"), 2_500, files=3, batch_rows=400)
    table = dataset.table("scan")
    assert dataset.exposed_tables == ("scan",) and len(table.files) == 3
    assert [pq.read_metadata(f).num_rows for f in table.files] == [834, 833, 833]
    assert pq.read_metadata(table.files[0]).num_row_groups == 3
    counts = _query(table.files, "count(*), count(DISTINCT id), min(id), max(id)")
    assert counts == (2_500, 2_500, 0, 2_499)
    types = _columns(table.files)
    assert types["ts"] == "TIMESTAMP WITH TIME ZONE" and types["tags"] == "VARCHAR[]"
    desc = _json(f"{dataset.latest.path}/provenance/dataset_description.json")
    assert list(desc["tables"]) == ["scan"] and desc["version"] == dataset.latest.id
    write_scan_table(str(tmp_path / "t"), 2_500, files=3, batch_rows=400)
    assert _tree(tmp_path / "s") == _tree(tmp_path / "t")
    empty = write_scan_table(str(tmp_path / "e"), 0, files=2).table("scan")
    assert [Path(f).name for f in empty.files] == ["scan.parquet"]
    assert empty.rows == 0 == pq.read_metadata(empty.files[0]).num_rows


def test_cli_writes_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "demo")
    assert main([root, "--layout", "legacy_a", "--subjects", "2"]) == 0
    out = capsys.readouterr().out
    assert "legacy_a" in out and "sessions" in out and "(latest)" in out
    assert main([root]) == 0
    assert "nothing written" in capsys.readouterr().out
