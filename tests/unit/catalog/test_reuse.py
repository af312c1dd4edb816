"""Reuse across refreshes: an unchanged listing is not read again, a changed one is.

Reads are counted by a real fsspec filesystem (a local one that tallies every file it
opens or fetches), never by a stand-in for the catalog's own code.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from flight_server.catalog.footers import FooterCache
from flight_server.catalog.layout import read_versions
from flight_server.catalog.model import Version
from flight_server.catalog.reuse import LoadMemo
from flight_server.catalog.static import open_dataset
from flight_server.storage import Location
from tests.unit.catalog.test_layout import write, write_version


class CountingFS(LocalFileSystem):
    """Local files, counting each file opened (fetches and footer reads open them), by path."""

    cachable = False  # a fresh count per instance

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reads: Counter[str] = Counter()

    def _open(self, path: str, mode: str = "rb", **kwargs: Any):
        self.reads[self._strip_protocol(path)] += 1
        return super()._open(path, mode, **kwargs)

    def json_reads(self) -> int:
        return sum(n for path, n in self.reads.items() if path.endswith(".json"))


def refresh(fs: CountingFS, root: Path, memo: LoadMemo) -> list[Version]:
    """One refresh's read of ``root``: what it found, with the reads counted afresh."""
    fs.reads.clear()
    versions, _problems = read_versions(fs, str(root), memo)
    memo.refreshed()
    return versions


def test_an_unchanged_root_gives_back_the_same_versions_without_reading_json(
    tmp_path: Path,
) -> None:
    write_version(tmp_path / "versions" / "v1", version="v1", tables={"a": 2, "b": 3})
    fs, memo = CountingFS(), LoadMemo()
    first = refresh(fs, tmp_path, memo)
    assert fs.json_reads() == 3  # the description and two schema files
    second = refresh(fs, tmp_path, memo)
    assert fs.reads == Counter()  # only listed: no JSON fetched, no footer opened
    assert second[0] is first[0]
    assert second[0].tables["a"] is first[0].tables["a"]


def test_a_new_version_is_read_and_the_unchanged_one_kept(tmp_path: Path) -> None:
    write_version(
        tmp_path / "versions" / "v1", version="v1", created="2024-01-01T00:00:00Z", tables={"a": 2}
    )
    fs, memo = CountingFS(), LoadMemo()
    (v1,) = refresh(fs, tmp_path, memo)
    write_version(
        tmp_path / "versions" / "v2", version="v2", created="2024-02-01T00:00:00Z", tables={"a": 4}
    )
    old, new = refresh(fs, tmp_path, memo)
    assert old is v1
    read = {Path(path).relative_to(tmp_path / "versions").parts[0] for path in fs.reads}
    assert read == {"v2"}  # nothing of v1 was read
    assert all(path.endswith(".json") for path in fs.reads)  # and no footer: they are lazy
    assert new.id == "v2" and new.tables["a"].loaded.rows != v1.tables["a"].loaded.rows


def test_a_rewritten_json_document_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "versions" / "v1"
    write_version(folder, version="v1", tables={"a": 2})
    fs, memo = CountingFS(), LoadMemo()
    (before,) = refresh(fs, tmp_path, memo)
    schema = folder / "schemas" / "a.schema.json"
    # The same size, so only the change marker (here the modification time) tells.
    write(schema, json.dumps({"description": "z"}))
    os.utime(schema, ns=(schema.stat().st_atime_ns, schema.stat().st_mtime_ns + 10**9))
    (after,) = refresh(fs, tmp_path, memo)
    assert before.tables["a"].remarks == "a"
    assert after.tables["a"].remarks == "z"
    assert after is not before


def test_a_deleted_file_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "versions" / "v1"
    write_version(folder, version="v1", tables={"a": 2})
    extra = folder / "tables" / "a" / "1-0.parquet"
    pq.write_table(pa.table({"id": ["x"]}), extra)
    fs, memo = CountingFS(), LoadMemo()
    (before,) = refresh(fs, tmp_path, memo)
    assert str(extra) in before.tables["a"].files
    extra.unlink()
    (after,) = refresh(fs, tmp_path, memo)
    assert str(extra) not in after.tables["a"].files
    assert after.tables["a"].loaded.rows == 2


def test_a_version_read_with_problems_is_read_again(tmp_path: Path) -> None:
    """A passing fault (here a schema file cut short, then repaired) is not remembered."""
    folder = tmp_path / "versions" / "v1"
    write_version(folder, version="v1", tables={"a": 2, "b": 1})
    schema = folder / "schemas" / "b.schema.json"
    good = schema.read_text()
    schema.write_text(good[:-1])
    fs, memo = CountingFS(), LoadMemo()
    (first,) = refresh(fs, tmp_path, memo)
    assert first.tables["b"].remarks is None
    (second,) = refresh(fs, tmp_path, memo)
    assert fs.json_reads() == 3 and second is not first
    schema.write_text(good)
    (third,) = refresh(fs, tmp_path, memo)
    assert third.tables["b"].remarks == "b"


def test_an_unchanged_dataset_is_the_same_object_until_a_refresh_leaves_it_out(
    tmp_path: Path,
) -> None:
    write_version(tmp_path / "versions" / "v1", version="v1")
    location, memo = Location("fs", str(tmp_path), ""), LoadMemo()
    first = open_dataset("local", "proj", location, memo=memo)
    memo.refreshed()
    assert open_dataset("local", "proj", location, memo=memo) is first
    memo.refreshed()
    memo.refreshed()  # a refresh that did not load it: forgotten
    again = open_dataset("local", "proj", location, memo=memo)
    assert again is not first and again == first


def test_same_schema_footers_share_one_schema_object(tmp_path: Path) -> None:
    paths = []
    for index in range(3):
        path = tmp_path / f"{index}.parquet"
        pq.write_table(pa.table({"id": [index], "name": ["x"]}), path)
        paths.append((str(path), path.stat().st_size))
    footers = FooterCache().footers(LocalFileSystem(), paths)
    schemas = {id(footer.schema) for footer in footers.values()}
    assert len(schemas) == 1
    assert footers[paths[0][0]].schema.metadata is None  # pandas/Arrow metadata dropped
