"""A table's footers, read on its first use and kept within a budget of files.

A refresh reads listings only: most tables of a large site, and almost every pinned
version, are not used between two refreshes, and reading every footer made start-up and
memory grow with every file on the site. A table's rows, schema groups and per-file
bounds come from its footers (``footers.FOOTERS``) the first time something needs them:
a query, a schema request, a listing with columns. The tables loaded last are kept, up to
``max_files`` files in all; the least recently used go first and are read again on their
next use (from the footer cache while it holds them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import fsspec

from flight_server.catalog.footers import FOOTERS, Footer, schema_groups
from flight_server.catalog.model import DataFile, LoadedFiles, Table
from flight_server.config import DEFAULT_LOADED_FILES


class Unreadable(Enum):
    """Why a table's file could not be read, as its caller can act on it (the value says
    it to the caller; the exception itself, which may name paths, goes to the log)."""

    #: Gone since the listing: the next refresh lists the table again.
    GONE = "is gone since the catalog was last read; the next refresh reads the table again"
    #: Its storage failed or timed out: worth retrying.
    UNAVAILABLE = "could not be read from its storage"
    #: Not a parquet file the server can read.
    CORRUPT = "is truncated or corrupt"


class UnreadableTable(Exception):
    """A table one of whose footers cannot be read: which file (inside its version
    folder) and why, in words safe to show any caller of the table.

    The whole table fails: serving the rest would answer counts and joins over part of
    the data without saying so.
    """

    def __init__(self, reason: str, why: Unreadable) -> None:
        super().__init__(reason)
        self.reason = reason
        self.why = why


class LoadedTables:
    """Loaded tables by their token, least recently used first, bounded in files."""

    def __init__(self, max_files: int = DEFAULT_LOADED_FILES) -> None:
        self._max_files = max_files
        self._files = 0
        self._tables: OrderedDict[object, LoadedFiles] = OrderedDict()
        self._lock = threading.Lock()
        # One reader per table at a time: queries arriving together at a cold table of
        # thousands of files wait for one read of its footers instead of each doing it.
        self._readers: dict[object, threading.Lock] = {}

    def get_or_read(self, token: object, read: Callable[[], LoadedFiles]) -> LoadedFiles:
        """The table's loaded files, ``read()`` and kept if not held (a failure keeps
        nothing, and a caller that waited reads again)."""
        loaded = self.get(token)
        if loaded is not None:
            return loaded
        with self._lock:
            reader = self._readers.setdefault(token, threading.Lock())
        try:
            with reader:
                loaded = self.get(token)
                if loaded is None:
                    loaded = read()
                    self.put(token, loaded)
                return loaded
        finally:
            with self._lock:
                if self._readers.get(token) is reader and not reader.locked():
                    del self._readers[token]

    def get(self, token: object) -> LoadedFiles | None:
        with self._lock:
            loaded = self._tables.get(token)
            if loaded is not None:
                self._tables.move_to_end(token)
            return loaded

    def put(self, token: object, loaded: LoadedFiles) -> None:
        """Keep ``loaded``; a table larger than the whole budget is used but not kept."""
        size = len(loaded.data_files)
        with self._lock:
            if token in self._tables or size > self._max_files:
                return
            self._tables[token] = loaded
            self._files += size
            while self._files > self._max_files:
                _, evicted = self._tables.popitem(last=False)
                self._files -= len(evicted.data_files)

    def held_files(self) -> int:
        """Files of the tables held now."""
        with self._lock:
            return self._files


#: The loaded tables of every dataset the process serves (one budget for all of them).
LOADED = LoadedTables()


@dataclass(frozen=True)
class FooterLoader:
    """Reads the footers of one version folder's tables, through ``FOOTERS``, into ``held``."""

    filesystem: fsspec.AbstractFileSystem
    #: The version folder, so that errors name files as the dataset's listing shows them.
    folder: str
    held: LoadedTables = LOADED

    def load(self, table: Table) -> LoadedFiles:
        return self.held.get_or_read(table.token, lambda: self._read(table))

    def _read(self, table: Table) -> LoadedFiles:
        footers = FOOTERS.footers(self.filesystem, list(zip(table.files, table.sizes, strict=True)))
        readable: dict[str, Footer] = {}
        for path, footer in footers.items():
            if not isinstance(footer, Footer):
                where = path[len(self.folder) + 1 :] if path.startswith(self.folder) else path
                why = _why(footer)
                raise UnreadableTable(f"file {where} {why.value}", why)
            readable[path] = footer
        sizes = table.file_bytes
        groups = schema_groups(readable)
        return LoadedFiles(
            tuple(
                tuple(
                    DataFile(path, sizes[path], readable[path].rows, readable[path].bounds)
                    for path in group
                )
                for group in groups
            ),
            tuple(tuple(readable[group[0]].schema.names) for group in groups),
        )


def _why(exc: Exception) -> Unreadable:
    if isinstance(exc, FileNotFoundError):
        return Unreadable.GONE
    if isinstance(exc, OSError | TimeoutError):
        return Unreadable.UNAVAILABLE
    return Unreadable.CORRUPT
