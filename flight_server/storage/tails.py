"""File tails (where parquet keeps its footer) read once per file and served from memory.

DuckDB reads a parquet file's footer each time it opens the file through an fsspec
filesystem: at bind and again at execution, on every query. Dataset files never change,
so the tail is fetched once and later reads that fall inside it never reach the store.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flight_server.config import DEFAULT_TAIL_CACHE_BYTES

# Enough for the footers of most files in one request (and for DuckDB's footer prefetch).
_MIN_TAIL = 64 * 1024
_MAGIC = b"PAR1"

#: Reads ``path``'s bytes ``[start, end)`` from the store.
ReadRange = Callable[[str, int, int], bytes]


class TailCache:
    """The last bytes of each file, covering its whole parquet footer, bounded in total size."""

    def __init__(self, max_bytes: int = DEFAULT_TAIL_CACHE_BYTES) -> None:
        self._tails: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    def tail(self, path: str, size: int, read: ReadRange) -> bytes:
        """``path``'s tail: at least 64 KiB (or the whole file) and all of its footer."""
        key = (path, size)
        with self._lock:
            cached = self._tails.get(key)
            if cached is not None:
                self._tails.move_to_end(key)
                return cached
        tail = read(path, max(0, size - _MIN_TAIL), size)
        if len(tail) >= 8 and tail[-4:] == _MAGIC:
            wanted = struct.unpack("<I", tail[-8:-4])[0] + 8
            if len(tail) < wanted <= size:
                tail = read(path, size - wanted, size - len(tail)) + tail
        with self._lock:
            if key not in self._tails and len(tail) <= self._max:
                self._tails[key] = tail
                self._bytes += len(tail)
                while self._bytes > self._max:
                    self._bytes -= len(self._tails.popitem(last=False)[1])
        return tail


class TailCachedFile:
    """A read-only file whose reads inside its cached tail are answered from memory."""

    def __init__(self, inner: Any, size: int, tail: bytes) -> None:
        self._inner = inner
        self._size = size
        self._tail = tail
        self._tail_start = size - len(tail)
        self._position = 0

    def read(self, length: int = -1) -> bytes:
        end = (
            self._size if length is None or length < 0 else min(self._size, self._position + length)
        )
        start = self._position
        if start >= self._tail_start:
            data = self._tail[start - self._tail_start : end - self._tail_start]
        else:
            self._inner.seek(start)
            data = self._inner.read(end - start)
        self._position = start + len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()

    @property
    def closed(self) -> bool:
        return self._inner.closed

    def __enter__(self) -> TailCachedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
