"""A filesystem confined to one dataset root, as the router (``routing``) serves each
dataset: every path is taken relative to the root, with the dataset's own credentials.

Dataset files are written once and never changed, so what DuckDB asks again on every
query is answered from memory: file info (DuckDB asks for each file's size and
modification time per open; s3fs would send a HEAD for each) and each file's tail, where
the parquet footer lives (DuckDB re-reads footers of files opened through fsspec at bind
and at execution, as its own metadata cache does not engage for them). Warm queries then
fetch data and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import fsspec
from fsspec.implementations.dirfs import DirFileSystem

from flight_server.config import DEFAULT_TAIL_CACHE_BYTES
from flight_server.lru import LruCache
from flight_server.storage.tails import TailCache, TailCachedFile

# File info entries kept per dataset; enough for the files of many versions.
_MAX_INFO = 100_000
# Where each backend puts a file's modification time in its info.
_MODIFIED_KEYS = ("LastModified", "last_modified", "updated", "mtime", "created")


class _Anchored(DirFileSystem):
    """A ``DirFileSystem`` that remembers file info and reports naive UTC modification times."""

    def __init__(self, *args: Any, tail_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._infos: LruCache[str, dict[str, Any]] = LruCache(_MAX_INFO)
        self._tails = TailCache(tail_bytes)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        cached = self._infos.get(path)
        if cached is not None:
            return cached
        info = super().info(path, **kwargs)
        if info.get("type") == "file":
            self._infos.put(path, info)
        return info

    def size(self, path: str) -> int:
        return int(self.info(path)["size"])

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            return super().open(path, mode, **kwargs)
        info = self.info(path)
        size = int(info["size"])
        # A known size and details spare the backend its own lookups (S3 HEADs) when the
        # file opens and on its first read.
        inner = super().open(path, mode, size=size, **kwargs)
        if _settable(type(inner), "details"):
            inner.details = info
        return TailCachedFile(inner, size, self._tails.tail(path, size, self._read_range))

    def _read_range(self, path: str, start: int, end: int) -> bytes:
        return self.cat_file(path, start=start, end=end)

    def glob(self, path: str, **kwargs: Any) -> list[str]:
        # DuckDB globs every listed file; a literal path is itself, without a request.
        if not any(char in path for char in "*?["):
            return [path]
        return super().glob(path, **kwargs)

    def modified(self, path: str) -> datetime:
        info = self.info(path)
        for key in _MODIFIED_KEYS:
            value = info.get(key)
            if isinstance(value, datetime):
                return value.astimezone(UTC).replace(tzinfo=None)
            if isinstance(value, int | float):
                return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
            if isinstance(value, str):
                return (
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                    .astimezone(UTC)
                    .replace(tzinfo=None)
                )
        raise NotImplementedError(f"no modification time for {path}")


def _settable(cls: type, name: str) -> bool:
    """Whether ``cls`` has a property ``name`` that can be set (s3fs's and fsspec's files)."""
    attribute = getattr(cls, name, None)
    return isinstance(attribute, property) and attribute.fset is not None


def anchored(
    filesystem: fsspec.AbstractFileSystem,
    root: str,
    protocol: str,
    tail_bytes: int = DEFAULT_TAIL_CACHE_BYTES,
) -> DirFileSystem:
    """``filesystem`` seen from ``root``, answering to ``protocol://relative/path``.

    ``tail_bytes``: memory for the files' tails (parquet footers), read once per file.
    """
    # fsspec strips a protocol by the class attribute, so each protocol needs its own class.
    cls = type(f"Anchored_{protocol}", (_Anchored,), {"protocol": protocol})
    return cls(path=root, fs=filesystem, tail_bytes=tail_bytes, skip_instance_cache=True)
