"""Local (and mounted) directories."""

from __future__ import annotations

import os
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from flight_server.storage.base import CallLimits, Location, register_backend


class LocalTree(LocalFileSystem):
    """fsspec's local filesystem, listing a whole tree in one walk of ``os.scandir`` and
    reading whole files in one call.

    A refresh lists every dataset root; fsspec's own ``find`` builds, strips and stats each
    path several times over in Python, four times the cost of this walk (0.6 against
    0.15 ms a dataset of 11 files, ``/tmp`` measurement in docs/performance.md), which a
    site of thousands of local datasets pays at every refresh.
    """

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        if maxdepth is not None or withdirs:
            return super().find(path, maxdepth, withdirs, detail, **kwargs)
        found = _walk(self._strip_protocol(path))
        ordered = {name: found[name] for name in sorted(found)}
        return ordered if detail else list(ordered)

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """A whole file in one read (each dataset's descriptions and schema files), without
        fsspec's buffered file object around it."""
        if start is not None or end is not None:
            return super().cat_file(path, start, end, **kwargs)
        with open(self._strip_protocol(path), "rb") as file:
            return file.read()


def _walk(root: str) -> dict[str, dict[str, Any]]:
    """Every entry under ``root`` that is not a folder, with its size and modification time,
    as fsspec's ``find`` lists them: a symbolic link is an entry of its own (not followed)
    with its target's size; a missing root is empty."""
    try:
        if not os.path.isdir(root):
            status = os.stat(root)
            return {root: _info(root, status.st_size, status.st_mtime)}
    except FileNotFoundError:
        return {}
    files: dict[str, dict[str, Any]] = {}
    folders = [root]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while listed
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                    continue
                status = entry.stat(follow_symlinks=False)
                size = status.st_size
                if entry.is_symlink():
                    try:
                        size = entry.stat().st_size
                    except OSError:
                        size = 0
                files[entry.path] = _info(entry.path, size, status.st_mtime)
            except FileNotFoundError:
                continue
    return files


def _info(path: str, size: int, mtime: float) -> dict[str, Any]:
    return {"name": path, "size": size, "type": "file", "mtime": mtime}


def open_local(location: Location, limits: CallLimits) -> fsspec.AbstractFileSystem:
    """Local paths need no credentials or network bounds; DuckDB reads them natively."""
    return LocalTree()


register_backend("fs", open_local)
