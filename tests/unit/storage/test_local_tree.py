"""``LocalTree``: its one-walk listing and whole-file reads agree with fsspec's own."""

from __future__ import annotations

import os
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from flight_server.storage.local import LocalTree


def tree(root: Path) -> None:
    for relative in ("a.json", "versions/v1/tables/t/x=1/0.parquet", "versions/v1/_hidden/1"):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(relative.encode() * 3)
    (root / "empty").mkdir()
    os.symlink(root / "versions", root / "linked")  # an entry of its own, as fsspec lists it


def test_find_lists_what_fsspec_lists(tmp_path: Path) -> None:
    tree(tmp_path)
    ours, theirs = (
        LocalTree().find(tmp_path, detail=True),
        LocalFileSystem().find(tmp_path, detail=True),
    )
    assert list(ours) == list(theirs)
    for path, info in theirs.items():
        assert (ours[path]["size"], ours[path]["mtime"]) == (info["size"], info["mtime"])
    assert LocalTree().find(str(tmp_path)) == LocalFileSystem().find(str(tmp_path))


def test_missing_roots_are_empty_and_a_file_lists_itself(tmp_path: Path) -> None:
    tree(tmp_path)
    assert LocalTree().find(tmp_path / "missing", detail=True) == {}
    assert LocalTree().find(tmp_path / "missing") == LocalFileSystem().find(tmp_path / "missing")
    assert list(LocalTree().find(tmp_path / "a.json")) == [f"{tmp_path}/a.json"]


def test_cat_reads_whole_files_and_ranges(tmp_path: Path) -> None:
    tree(tmp_path)
    path = str(tmp_path / "a.json")
    assert LocalTree().cat_file(path) == LocalFileSystem().cat_file(path)
    assert LocalTree().cat_file(path, 2, 5) == b"jso"
    assert LocalTree().cat([path]) == {path: b"a.jsona.jsona.json"}
