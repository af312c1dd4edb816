"""Parquet footers read once per file and kept in a bounded cache.

Grouping a table's files by schema lets the engine scan each group without
``union_by_name``, which would otherwise open every file's footer on every query and
defeat partition pruning.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

# Footers are small; this bounds the cache to a few hundred MB in the worst case.
_MAX_ENTRIES = 200_000
# Reading footers from object storage is latency-bound, so several go at once.
_READ_CONCURRENCY = 16


class FooterCache:
    """Arrow schemas by (filesystem kind, path, size): data files are written once."""

    def __init__(self, max_entries: int = _MAX_ENTRIES) -> None:
        self._schemas: OrderedDict[tuple[str, str, int], pa.Schema] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def schema_groups(
        self, fs: fsspec.AbstractFileSystem, files: Sequence[tuple[str, int]]
    ) -> tuple[tuple[str, ...], ...]:
        """The files grouped by identical schema, groups in order of their first file."""
        kind = type(fs).__name__
        keys = [(kind, path, size) for path, size in files]
        with self._lock:
            missing = [key for key in keys if key not in self._schemas]
        if missing:
            with ThreadPoolExecutor(min(_READ_CONCURRENCY, len(missing))) as pool:
                read = pool.map(lambda key: pq.read_schema(key[1], filesystem=fs), missing)
                fresh = dict(zip(missing, read, strict=True))
            with self._lock:
                self._schemas.update(fresh)
                while len(self._schemas) > self._max:
                    self._schemas.popitem(last=False)
        else:
            fresh = {}
        groups: dict[pa.Schema, list[str]] = {}
        for key in keys:
            schema = fresh[key] if key in fresh else self._cached(key)
            groups.setdefault(schema.remove_metadata(), []).append(key[1])
        return tuple(tuple(paths) for paths in groups.values())

    def _cached(self, key: tuple[str, str, int]) -> pa.Schema:
        with self._lock:
            self._schemas.move_to_end(key)
            return self._schemas[key]


FOOTERS = FooterCache()
