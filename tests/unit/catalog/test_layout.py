"""``read_versions``: the three dataset layouts, the latest/ rule, broken versions, ordering."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flight_server.catalog.layout import LayoutError, read_versions
from flight_server.catalog.loading import Unreadable, UnreadableTable

FS = fsspec.filesystem("file")


def write_version(
    folder: Path,
    *,
    version: str | None = None,
    created: str | None = None,
    tables: dict[str, int] | None = None,
    description: object | None = None,
) -> None:
    """A version folder: description, one schema file and one parquet file per table."""
    tables = {"subjects": 2} if tables is None else tables
    if description is None:
        description = {"tables": {name: {} for name in tables}}
        if version is not None:
            description["version"] = version
        if created is not None:
            description["created"] = created
    write(folder / "provenance" / "dataset_description.json", json.dumps(description))
    for name, rows in tables.items():
        write(folder / "schemas" / f"{name}.schema.json", json.dumps({"description": name}))
        path = folder / "tables" / name / "0-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": [f"{name}{i}" for i in range(rows)]}), path)


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def ids(root: Path) -> list[str]:
    versions, _problems = read_versions(FS, str(root))
    return [version.id for version in versions]


def test_current_layout_orders_by_created_not_folder_name(tmp_path: Path) -> None:
    # Folder names sort opposite to creation: a reader going by name would pick wrong.
    write_version(tmp_path / "versions" / "bbb", version="bbb", created="2024-01-01T00:00:00Z")
    write_version(
        tmp_path / "versions" / "aaa",
        version="aaa",
        created="2024-06-01T00:00:00.004+00:00",
        tables={"subjects": 3, "sessions": 5},
    )
    versions, problems = read_versions(FS, str(tmp_path) + "/")
    assert problems == []
    assert [v.id for v in versions] == ["bbb", "aaa"]
    newest = versions[-1]
    assert newest.path == f"{tmp_path}/versions/aaa"
    assert sorted(newest.tables) == ["sessions", "subjects"]
    subjects = newest.tables["subjects"]
    assert subjects.remarks == "subjects"
    (path,) = subjects.files
    assert path == f"{tmp_path}/versions/aaa/tables/subjects/0-0.parquet"
    assert subjects.file_bytes == {path: (tmp_path / path).stat().st_size}
    assert subjects.loaded.file_rows == {path: 3}


def test_version_id_and_label_fall_back_to_the_folder_name(tmp_path: Path) -> None:
    write_version(tmp_path / "versions" / "f1", created="2024-01-01T00:00:00Z")
    (version,), _ = read_versions(FS, str(tmp_path))
    assert (version.id, version.label) == ("f1", "f1")


def test_legacy_b_latest_folder_is_newest_even_undated(tmp_path: Path) -> None:
    write_version(tmp_path / "versions" / "v1", version="v1", created="2024-01-01T00:00:00Z")
    write_version(tmp_path / "versions" / "v2", version="v2", created="2024-02-01T00:00:00Z")
    write_version(tmp_path / "latest", version="v3")
    write(tmp_path / "versions" / "latest_version.json", json.dumps({"version": "v3"}))
    assert ids(tmp_path) == ["v1", "v2", "v3"]


def test_legacy_b_latest_copied_to_versions_is_served_once(tmp_path: Path) -> None:
    write_version(tmp_path / "versions" / "v1", version="v1", created="2024-01-01T00:00:00Z")
    write_version(tmp_path / "versions" / "v2", version="v2")
    write_version(tmp_path / "latest", version="v2")
    versions, problems = read_versions(FS, str(tmp_path))
    assert problems == []
    assert [v.id for v in versions] == ["v1", "v2"]


def test_legacy_a_versions_latest_folder_is_newest(tmp_path: Path) -> None:
    # The oldest layout: versions/latest/, whose description may carry no version id.
    write_version(tmp_path / "versions" / "v1", version="v1", created="2030-01-01T00:00:00Z")
    write_version(tmp_path / "versions" / "latest")
    write(tmp_path / "latest_version.json", "{}")
    assert ids(tmp_path) == ["v1", "latest"]


def test_a_version_dated_after_latest_is_newer(tmp_path: Path) -> None:
    write_version(tmp_path / "latest", version="v2", created="2024-02-01T00:00:00Z")
    write_version(tmp_path / "versions" / "v3", version="v3", created="2024-03-01T00:00:00Z")
    write_version(tmp_path / "versions" / "v1", version="v1", created="2024-01-01T00:00:00Z")
    assert ids(tmp_path) == ["v1", "v2", "v3"]


def test_undated_versions_outside_latest_are_oldest(tmp_path: Path) -> None:
    write_version(tmp_path / "versions" / "dated", created="2020-01-01T00:00:00Z")
    write_version(tmp_path / "versions" / "undated", created="not a date")
    assert ids(tmp_path) == ["undated", "dated"]


def test_created_is_parsed_leniently(tmp_path: Path) -> None:
    # Nanoseconds, a Z, an offset and a naive time (taken as UTC) all compare correctly.
    created = {
        "a": "2024-01-01T00:00:00.123456789+00:00",
        "b": "2024-01-01T01:30:00+02:00",  # 23:30 UTC the day before: the oldest
        "c": "2024-01-01T00:00:01Z",
        "d": "2024-01-01T00:00:02",
    }
    for name, text in created.items():
        write_version(tmp_path / "versions" / name, created=text)
    assert ids(tmp_path) == ["b", "a", "c", "d"]


def test_broken_versions_are_skipped_with_a_reason(tmp_path: Path) -> None:
    write_version(tmp_path / "versions" / "good", created="2024-01-01T00:00:00Z")
    write(tmp_path / "versions" / "badjson" / "provenance" / "dataset_description.json", "{")
    write_version(tmp_path / "versions" / "notdict", description=["a", "list"])
    # No description: not a version at all, so not a problem either.
    write(tmp_path / "versions" / "nodesc" / "tables" / "subjects" / "0.parquet", b"PAR1")
    versions, problems = read_versions(FS, str(tmp_path))
    assert [v.id for v in versions] == ["good"]
    assert len(problems) == 2
    assert any(
        p.startswith("versions/badjson: unreadable") and "invalid JSON" in p for p in problems
    )
    assert any(p.startswith("versions/notdict: unreadable") for p in problems)


def test_a_table_with_a_corrupt_file_fails_whole_at_first_use(tmp_path: Path) -> None:
    folder = tmp_path / "versions" / "v1"
    write_version(folder, tables={"subjects": 2, "sessions": 2})
    write(folder / "tables" / "sessions" / "1-0.parquet", b"not parquet at all")
    (version,), problems = read_versions(FS, str(tmp_path))
    # A refresh reads listings only: the table is listed, and its first use fails.
    assert problems == [] and sorted(version.tables) == ["sessions", "subjects"]
    assert version.tables["subjects"].loaded.rows == 2
    with pytest.raises(UnreadableTable) as raised:
        version.tables["sessions"].loaded  # noqa: B018 (the property reads the footers)
    assert raised.value.why is Unreadable.CORRUPT
    assert str(raised.value).startswith("file tables/sessions/1-0.parquet is truncated or corrupt")
    assert str(tmp_path) not in str(raised.value)  # no server path reaches the caller
    # Nothing was kept of the failure: once repaired, the same table object loads.
    write(folder / "tables" / "sessions" / "1-0.parquet", b"")
    pq.write_table(pa.table({"id": ["x"]}), folder / "tables" / "sessions" / "1-0.parquet")
    assert version.tables["sessions"].loaded.rows == 3


def test_an_unreadable_schema_file_keeps_its_table(tmp_path: Path) -> None:
    folder = tmp_path / "versions" / "v1"
    write_version(folder)
    write(folder / "schemas" / "subjects.schema.json", "[not json")
    (version,), problems = read_versions(FS, str(tmp_path))
    assert version.tables["subjects"].remarks is None
    (problem,) = problems
    assert problem.startswith("versions/v1: table subjects: schema file ignored")


def test_which_files_and_tables_are_data(tmp_path: Path) -> None:
    folder = tmp_path / "versions" / "v1"
    write_version(folder, tables={"subjects": 1})
    pq.write_table(pa.table({"id": ["x"]}), tmp_path / "part.parquet")
    part = (tmp_path / "part.parquet").read_bytes()
    write(folder / "tables" / "subjects" / "site=a" / "1.parquet", part)
    write(folder / "tables" / "subjects" / "_SUCCESS", b"")
    write(folder / "tables" / "subjects" / ".hidden.parquet", b"junk")
    write(folder / "tables" / "subjects" / "_tmp" / "2.parquet", b"junk")
    write(folder / "tables" / "subjects" / "notes.txt", b"junk")
    # A table folder with neither a schema file nor a description entry is not exposed.
    write(folder / "tables" / "undescribed" / "0.parquet", part)
    (version,), problems = read_versions(FS, str(tmp_path))
    assert problems == []
    assert list(version.tables) == ["subjects"]
    subjects = version.tables["subjects"]
    assert subjects.hive_partitioned
    assert sorted(p.rsplit("/tables/", 1)[1] for p in subjects.files) == [
        "subjects/0-0.parquet",
        "subjects/site=a/1.parquet",
    ]


def test_files_with_different_schemas_form_groups(tmp_path: Path) -> None:
    folder = tmp_path / "versions" / "v1"
    write_version(folder, tables={"subjects": 1})
    wider = folder / "tables" / "subjects" / "1-0.parquet"
    pq.write_table(pa.table({"id": ["x"], "age": [1.5]}), wider)
    (version,), _ = read_versions(FS, str(tmp_path))
    groups = version.tables["subjects"].loaded.file_groups
    assert sorted(len(group) for group in groups) == [1, 1]
    assert {path for group in groups for path in group} == set(version.tables["subjects"].files)


def test_roots_without_a_valid_version_are_errors(tmp_path: Path) -> None:
    # fsspec lists a missing local directory as empty (object stores raise instead).
    with pytest.raises(LayoutError, match="no dataset version"):
        read_versions(FS, str(tmp_path / "missing"))
    write(tmp_path / "empty" / "versions" / "v1" / "tables" / "t" / "0.parquet", b"")
    with pytest.raises(LayoutError, match="no dataset version found"):
        read_versions(FS, str(tmp_path / "empty"))
    write(tmp_path / "broken" / "versions" / "v1" / "provenance" / "dataset_description.json", "")
    with pytest.raises(LayoutError, match=r"no valid dataset version.*unreadable"):
        read_versions(FS, str(tmp_path / "broken"))
