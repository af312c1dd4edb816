"""Parquet footers read once per file and kept in a bounded cache.

Grouping a table's files by schema lets the engine scan each group without
``union_by_name``, which would otherwise open every file's footer on every query and
defeat partition pruning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from flight_server.catalog.bounds import file_bounds
from flight_server.catalog.isolation import describe, skip
from flight_server.catalog.model import Bounds
from flight_server.lru import LruCache

# Footers are small; this bounds the cache to a few hundred MB in the worst case.
_MAX_ENTRIES = 200_000
# Distinct schemas are few (a table's drift groups); this only bounds a pathological site.
_MAX_SCHEMAS = 10_000
# Reading footers from object storage is latency-bound, so several go at once.
_READ_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Footer:
    """What a table needs from one file's footer; ``schema`` is shared (see ``SchemaPool``)."""

    schema: pa.Schema
    rows: int
    bounds: Bounds = ()


class FooterCache:
    """Footers by (filesystem kind, path, size): data files are written once."""

    def __init__(self, max_entries: int = _MAX_ENTRIES) -> None:
        self._footers: LruCache[tuple[str, str, int], Footer] = LruCache(max_entries)

    def footers(
        self, fs: fsspec.AbstractFileSystem, files: Sequence[tuple[str, int]]
    ) -> dict[str, Footer | Exception]:
        """Each file's footer by path, or what reading it raised; reads only uncached ones.

        Each read is its own unit: a corrupt, empty or unreachable file fails alone, and is
        not cached, so a later use tries it again.
        """
        kind = type(fs).__name__
        found: dict[tuple[str, str, int], Footer | Exception | None] = {
            (kind, path, size): self._footers.get((kind, path, size)) for path, size in files
        }
        missing = [key for key, footer in found.items() if footer is None]
        for key, footer in zip(missing, _read_all(fs, [key[1] for key in missing]), strict=True):
            found[key] = footer
            if isinstance(footer, Footer):
                self._footers.put(key, footer)
        return {key[1]: footer for key, footer in found.items() if footer is not None}


class SchemaPool:
    """One shared object per distinct schema (without metadata) across all footers.

    ``read_metadata`` builds a new Arrow schema per file, about 4 KiB of native memory
    each with the heap's fragmentation: a table of 10,000 same-schema files would keep
    10,000 copies of one schema.
    """

    def __init__(self, max_entries: int = _MAX_SCHEMAS) -> None:
        self._schemas: LruCache[pa.Schema, pa.Schema] = LruCache(max_entries)

    def shared(self, schema: pa.Schema) -> pa.Schema:
        """The pooled schema equal to ``schema`` without its metadata (pooled if new)."""
        if schema.metadata:
            schema = schema.remove_metadata()
        pooled = self._schemas.get(schema)
        if pooled is None:
            self._schemas.put(schema, schema)
            return schema
        return pooled


def schema_groups(footers: Mapping[str, Footer]) -> tuple[tuple[str, ...], ...]:
    """The files grouped by identical schema, groups in order of their first file."""
    groups: dict[pa.Schema, list[str]] = {}
    for path, footer in footers.items():
        groups.setdefault(footer.schema, []).append(path)
    return tuple(tuple(paths) for paths in groups.values())


def _read_all(fs: fsspec.AbstractFileSystem, paths: Sequence[str]) -> list[Footer | Exception]:
    """Footers of ``paths``, several at once; one alone is read here (a pool costs more)."""
    if len(paths) <= 1:
        return [_isolated_read(fs, path) for path in paths]
    with ThreadPoolExecutor(min(_READ_CONCURRENCY, len(paths))) as pool:
        return list(pool.map(lambda path: _isolated_read(fs, path), paths))


def _isolated_read(fs: fsspec.AbstractFileSystem, path: str) -> Footer | Exception:
    """One file's footer, or what reading it raised (logged and counted as a skipped file)."""
    try:
        return _read_footer(fs, path)
    except Exception as exc:  # the boundary: one file fails alone, whatever it raises
        skip("file", path, describe(exc))
        return exc


def _read_footer(fs: fsspec.AbstractFileSystem, path: str) -> Footer:
    metadata = pq.read_metadata(path, filesystem=fs)
    schema = SCHEMAS.shared(metadata.schema.to_arrow_schema())
    return Footer(schema, metadata.num_rows, file_bounds(metadata, schema))


SCHEMAS = SchemaPool()
FOOTERS = FooterCache()
