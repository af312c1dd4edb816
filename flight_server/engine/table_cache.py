"""Hot table cache: DuckDB-native copies of the served tables queries use, within a disk budget.

DuckDB answers from its own storage about twice as fast as from parquet, and for datasets
on object storage a copy removes storage reads once warm. A dataset version's files are
never rewritten, so a table's content is fixed by its scan: the copy is named after a hash
of the scan's SQL (which lists the files) and the files' sizes (the footer cache's notion
of a file), and it stays valid for as long as a view shows that scan.

Copies are made lazily, one at a time, by one background thread: a query never waits for
one, and until a copy is ready (or when it cannot be made) the view reads the parquet files
as before. Views are swapped under the engine's lock, so a refresh that changes a view and
a copy that becomes ready cannot interleave.

A copy of more than one row group gets an ART index on each lookup column it has
(``engine.cache_index_columns``): a lookup of one session's files reads its few rows instead
of every row of the copy (benchmark 10: 2x faster on a 318,000-row files table, 40x on
10,000,000 rows). DuckDB loads index blocks on use, like table blocks; on disk they count
against the budget. A table too large to index whose parquet files carry bloom filters on
its lookup columns is not copied at all: those find a key faster than an unindexed copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum, auto
from itertools import count
from pathlib import Path

import duckdb

from flight_server.engine.guard import TableKey, table_key
from flight_server.engine.sql_text import qualified, quote_ident, quote_literal
from flight_server.identifiers import fold
from flight_server.messages import first_line

log = logging.getLogger(__name__)

#: The database copies live in. Users never reach it: the guard only lets queries name
#: published views, and this database holds none.
CACHE_DATABASE = "fw_table_cache"

#: A published view as ``(catalog, schema, table)``, spelled as published.
ViewKey = tuple[str, str, str]

# Distinguishes the cache files of several engines in one process (tests run many).
_ENGINE_NUMBERS = count()
# DuckDB refuses to checkpoint while queries that began before the last change still read
# the cache. A new copy is measured once checkpointed, so the worker retries for a while
# first; dropped copies' blocks are freed by later attempts.
_MEASURE_PATIENCE_SECONDS = 2.0
_MEASURE_RETRY_SECONDS = 0.05
_CHECKPOINT_RETRY_SECONDS = 5.0
# How long closing waits for an interrupted copy to unwind.
_CLOSE_SECONDS = 10.0
# Copies of the demo tables over 1 MB took 0.7-1.2x their parquet bytes, so a table whose
# parquet is over twice the budget is never tried.
_MAX_PARQUET_TO_BUDGET = 2
# An evicted copy is not made again for this long: when the tables in use do not fit the
# budget, copies would otherwise evict each other in a loop that only burns CPU and disk.
_REQUEUE_AFTER_EVICTION_SECONDS = 300.0
# Copies of fewer rows (one DuckDB row group) are not indexed: scanning one costs well under
# a millisecond, and each index would take a 256 KiB block of the budget.
_MIN_ROWS_TO_INDEX = 122_880
# Building an ART index held about 110 bytes per row at its peak (10,000,000 24-character
# keys: RSS up by 1.1 GB), in DuckDB's buffer pool. A copy is indexed only while that fits
# in a quarter of DuckDB's memory limit, so a background build never crowds out queries
# (or trips the process's memory ceiling); larger copies serve unindexed.
_INDEX_BUILD_BYTES_PER_ROW = 128
_INDEX_BUILD_SHARE = 0.25
# Column types an index is made for: keys that are compared whole (ids, numbers).
_INDEXED_TYPES = frozenset(
    {"VARCHAR", "UUID", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT"}
)


@dataclass(frozen=True)
class ParquetFiles:
    """The parquet files a scan reads, as DuckDB reaches them, and their rows (from the
    catalog's footers)."""

    paths: tuple[str, ...] = ()
    rows: int = 0


@dataclass(frozen=True)
class CacheSource:
    """What a served view scans: its identity, its files' bytes, and its SELECT over parquet.

    The SELECT is written when needed (``make_sql``), not when published: writing it reads
    the table's footers (held by ``catalog.loading`` once read), which publishing a large
    site must not do for every table.
    """

    #: Names the copy: equal scans of equal files have equal content.
    identity: str
    parquet_bytes: int
    make_sql: Callable[[], str] = field(repr=False, compare=False)
    #: The parquet files the SELECT reads; none for a derived table, whose SELECT reads
    #: other views.
    make_files: Callable[[], ParquetFiles] = field(
        default=lambda: ParquetFiles(), repr=False, compare=False
    )

    @property
    def sql(self) -> str:
        return self.make_sql()

    @staticmethod
    def identify(*parts: str | int) -> str:
        """An identity from whatever decides a scan's content (its text, files, sizes)."""
        digest = hashlib.sha256()
        for part in parts:
            digest.update(f"{part}\0".encode())
        return digest.hexdigest()


class _State(Enum):
    QUEUED = auto()
    BUILDING = auto()
    CACHED = auto()
    #: Not retried until the next publish.
    FAILED = auto()
    #: Never retried: a copy's content cannot change.
    TOO_BIG = auto()
    #: Not queued again for ``_REQUEUE_AFTER_EVICTION_SECONDS``.
    EVICTED = auto()
    #: Never copied: its parquet files serve lookups better than a copy would
    #: (``TableCache._parquet_prunes``).
    ON_PARQUET = auto()


@dataclass
class _Copy:
    """Where one copy (by identity) stands; held in order of last use or of queueing."""

    state: _State
    bytes: int = 0
    evicted_at: float = 0.0
    indexes: int = 0


@dataclass(frozen=True)
class _Built:
    """A finished copy's measure: bytes of its table and of its indexes, and whether both
    are exact (checkpointed) rather than upper bounds."""

    table_bytes: int
    index_bytes: int
    exact: bool
    indexes: int


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds now, for metrics."""

    tables: int
    bytes: int
    #: Queued or being copied.
    pending: int
    #: Lookup indexes of the copies held (``engine.cache_index_columns``).
    indexes: int = 0


class TableCache:
    """Copies of served tables in a DuckDB file attached to the engine's database.

    ``connection`` is the engine's DuckDB connection and ``lock`` the engine's lock that
    guards it; ``publish`` must be called with that lock held.
    """

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        lock: threading.Lock,
        directory: str,
        max_bytes: int,
        index_columns: Sequence[str],
        make_schema: Callable[[str, str], None],
        unmake_view: Callable[[ViewKey], None],
    ) -> None:
        self._connection = connection
        self._lock = lock
        # The engine makes schemas and parquet views on first use: a view pointed at a copy
        # may be the first of its schema, and one that goes back to parquet is dropped and
        # left for the engine to make again when next used (writing its SELECT may read
        # footers, which must not happen under the lock held here).
        self._make_schema = make_schema
        self._unmake_view = unmake_view
        self._max_bytes = max_bytes
        self._index_columns = {fold(name): index for index, name in enumerate(index_columns)}
        try:
            self._path = _fresh_path(Path(directory))
            connection.execute(f"ATTACH {quote_literal(str(self._path))} AS {CACHE_DATABASE}")
        except (OSError, duckdb.Error) as exc:
            # One line for the operator: the setting is wrong, not the server.
            reason = first_line(exc)
            raise OSError(f"cannot open the table cache in {directory}: {reason}") from None
        self._block_bytes = int(
            connection.execute(
                "SELECT block_size FROM pragma_database_size() WHERE database_name = ?",
                [CACHE_DATABASE],
            ).fetchall()[0][0]
        )
        self._worker_cursor = connection.cursor()
        (limit,) = connection.execute("SELECT current_setting('memory_limit')").fetchall()[0]
        self._max_index_rows = int(
            _bytes_of(limit) * _INDEX_BUILD_SHARE // _INDEX_BUILD_BYTES_PER_ROW
        )
        # Guards everything below; taken after the engine's lock, never before it.
        self._state = threading.Condition()
        self._sources: dict[ViewKey, CacheSource] = {}
        self._identities: dict[TableKey, str] = {}  # case-folded view -> its copy's identity
        self._views: dict[str, list[ViewKey]] = {}  # identity -> views showing that scan
        self._pointing: dict[ViewKey, str] = {}  # views now reading a copy
        # Each copy's state; cached ones least recently used first, queued ones oldest first.
        self._copies: OrderedDict[str, _Copy] = OrderedDict()
        self._reclaim = False  # dropped copies' blocks wait for a checkpoint
        self._dropped_bytes = 0  # of every cached copy dropped so far
        self._closed = False
        # Runs only while there is work, so an idle engine holds no thread.
        self._worker: threading.Thread | None = None

    # -- called by the engine ---------------------------------------------------------------

    def publish(self, sources: Mapping[ViewKey, CacheSource]) -> None:
        """Point each view at its copy if there is one, at its parquet scan otherwise.

        Called with the engine's lock held, after the engine has made its views match the
        new snapshot; copies no view shows any more are dropped.
        """
        with self._state:
            self._sources = dict(sources)
            self._identities = {}
            self._views = {}
            for key, source in self._sources.items():
                identity = source.identity
                self._identities[table_key(*key)] = identity
                self._views.setdefault(identity, []).append(key)
            for key in set(self._pointing) - set(sources):
                del self._pointing[key]  # the engine dropped the view
            for key, source in self._sources.items():
                cached = self._is(source.identity, _State.CACHED)
                self._point(key, source.identity if cached else None)
            for identity, copy in list(self._copies.items()):
                if copy.state is _State.BUILDING:
                    continue  # the worker installs or forgets it
                if identity not in self._views and copy.state is _State.CACHED:
                    self._drop(identity)
                elif identity not in self._views or copy.state is _State.FAILED:
                    del self._copies[identity]
            self._state.notify_all()

    def forget_failures(self) -> None:
        """Copies that failed may be tried again, as after a publish: the catalog was read
        again, so a passing storage fault is not remembered for good."""
        with self._state:
            for identity in self._in(_State.FAILED):
                del self._copies[identity]

    def touch(self, keys: Iterable[TableKey]) -> None:
        """Note that a query reads these (case-folded) views: keep or queue their copies."""
        with self._state:
            for key in keys:
                identity = self._identities.get(key)
                if identity is None:
                    continue  # not a dataset table (a derived view), or gone
                if self._is(identity, _State.CACHED):
                    self._copies.move_to_end(identity)
                elif self._may_queue(identity):
                    self._copies[identity] = _Copy(_State.QUEUED)
                    self._copies.move_to_end(identity)
                    self._wake()

    def holds(self, key: TableKey) -> bool:
        """Whether the (case-folded) view reads its copy now rather than its parquet files."""
        with self._state:
            identity = self._identities.get(key)
            return identity is not None and self._is(identity, _State.CACHED)

    def stats(self) -> CacheStats:
        with self._state:
            cached = self._in(_State.CACHED)
            pending = len(self._in(_State.QUEUED, _State.BUILDING))
            held = [self._copies[i] for i in cached]
            return CacheStats(
                len(held),
                sum(copy.bytes for copy in held),
                pending,
                sum(copy.indexes for copy in held),
            )

    def close(self) -> None:
        """Stop the worker (interrupting a copy) and remove the cache file.

        Queries still running keep reading their copies: DuckDB holds the file open, and
        its space returns when the process ends.
        """
        with self._state:
            self._closed = True
            for identity in self._in(_State.QUEUED):
                del self._copies[identity]
            self._state.notify_all()
            worker = self._worker
        self._worker_cursor.interrupt()
        if worker:
            worker.join(_CLOSE_SECONDS)
        for path in (self._path, _wal(self._path)):
            path.unlink(missing_ok=True)

    # -- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        """Copy queued tables one at a time, then free dropped copies' blocks; then end."""
        while True:
            with self._state:
                queued = self._in(_State.QUEUED)
                if self._closed or not (queued or self._reclaim):
                    self._worker = None
                    return
                identity = queued[0] if queued else None
                if identity is None:
                    self._reclaim = False
                else:
                    self._copies[identity].state = _State.BUILDING
                    source = self._sources[self._views[identity][0]]
            if identity is None:
                if not self._checkpoint():
                    with self._state:
                        self._reclaim = True
                        self._state.wait(_CHECKPOINT_RETRY_SECONDS)
                continue
            if self._stays_on_parquet(identity, source):
                continue
            built = self._build(identity, source)
            with self._lock, self._state:
                if built is not None:
                    self._install(identity, built)
                elif self._closed:
                    del self._copies[identity]
                else:
                    self._copies[identity].state = _State.FAILED

    def _stays_on_parquet(self, identity: str, source: CacheSource) -> bool:
        """Whether the table is left on parquet instead of copied (then marked so), or the
        cache closed meanwhile (then forgotten)."""
        try:
            reason = self._parquet_prunes(source)
        except Exception:  # the copy reads the same footers: its failure is logged there
            reason = None
        with self._state:
            if self._closed:
                del self._copies[identity]
                return True
            if reason is None:
                return False
            self._copies[identity].state = _State.ON_PARQUET
            log.info("table cache: %s stays on parquet: %s", self._names(identity), reason)
            return True

    def _parquet_prunes(self, source: CacheSource) -> str | None:
        """Why lookups on the table are better served from its parquet files, or None.

        A copy too large to index finds a key by its zone maps (each row group's least and
        greatest value), which rule out almost nothing when ids fall in random order.
        Parquet files with bloom filters on a column skip every row group without the key:
        one subject's rows of 120M took 39 ms from parquet and 111 ms from the copy
        (benchmark 11). So a table too large to index whose files carry bloom filters on
        every lookup column it has stays on parquet. Reads only footers, and those of
        large tables only.
        """
        files = source.make_files()
        rows = files.rows
        if not self._index_columns or not self._too_large_to_index(rows):
            return None
        chunks = self._worker_cursor.execute(
            "SELECT path_in_schema, bool_and(bloom_filter_offset IS NOT NULL) "
            "FROM parquet_metadata(?) GROUP BY 1",
            [list(files.paths)],
        ).fetchall()
        bloomed = {fold(name): every for name, every in chunks if fold(name) in self._index_columns}
        if not bloomed or not all(bloomed.values()):
            return None
        return (
            f"its {rows} rows need more memory to index than a quarter of DuckDB's memory"
            f" limit, and its files' bloom filters on {', '.join(sorted(bloomed))} find keys"
            " faster than an unindexed copy would"
        )

    def _build(self, identity: str, source: CacheSource) -> _Built | None:
        """Copy one table and index it: its measure, or None on failure.

        The size is exact when the copy was checkpointed: then all of it is in file blocks.
        Otherwise part of it is still in the WAL, whose growth is added: an upper bound, as
        the WAL holds data uncompressed.
        """
        table = _table(identity)
        wal_before = _file_bytes(_wal(self._path))
        try:
            self._worker_cursor.execute(f"CREATE TABLE {table} AS {source.sql}")
            exact, in_wal = self._settle(wal_before)
            table_bytes = self._blocks_bytes(identity) + in_wal
            index_bytes, indexes_exact, indexes = self._index(identity)
            return _Built(table_bytes, index_bytes, exact and indexes_exact, indexes)
        # Any failure (out of memory or disk, storage errors, an interrupt at close) leaves
        # the table on parquet; the worker must live on for the other tables.
        except Exception as exc:
            with suppress(duckdb.Error):
                self._worker_cursor.execute(f"DROP TABLE IF EXISTS {table}")
            with self._state:
                if not self._closed:
                    log.warning(
                        "table cache: %s stays on parquet, copying failed: %s",
                        self._names(identity),
                        first_line(exc),
                    )
            return None

    def _index(self, identity: str) -> tuple[int, bool, int]:
        """Index the copy on its lookup columns: the indexes' bytes, whether that is exact,
        and how many there are.

        No table function tells an index's size, so it is the growth of the file's used
        blocks over the build (plus the WAL's, if it could not be checkpointed), with the
        bytes of copies dropped meanwhile added back: their blocks, freed by the same
        checkpoint, may have been reused. Like the copy's own size, it errs high.
        """
        table = _table(identity)
        (rows,) = self._worker_cursor.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
        if rows < _MIN_ROWS_TO_INDEX:
            return 0, True, 0
        if self._too_large_to_index(rows):
            with self._state:
                log.info(
                    "table cache: %s is not indexed: %d rows need more memory to index than"
                    " a quarter of DuckDB's memory limit",
                    self._names(identity),
                    rows,
                )
            return 0, True, 0
        columns = self._worker_cursor.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = ? AND table_name = ?",
            [CACHE_DATABASE, f"t_{identity}"],
        ).fetchall()
        keyed = sorted(
            (self._index_columns[fold(name)], name)
            for name, data_type in columns
            if fold(name) in self._index_columns and data_type in _INDEXED_TYPES
        )
        if not keyed:
            return 0, True, 0
        used_before, dropped_before = self._used_bytes(), self._dropped_bytes
        wal_before = _file_bytes(_wal(self._path))
        made = 0
        for _, name in keyed:
            try:
                self._worker_cursor.execute(
                    f"CREATE INDEX {_index_name(identity, made)} ON {table} ({quote_ident(name)})"
                )
            except duckdb.Error as exc:  # out of memory, say: the copy serves without it
                if self._closed:
                    raise
                with self._state:
                    log.warning(
                        "table cache: %s has no index on %s: %s",
                        self._names(identity),
                        name,
                        first_line(exc),
                    )
                continue
            made += 1
        exact, in_wal = self._settle(wal_before)
        freed = self._dropped_bytes - dropped_before
        return max(0, self._used_bytes() - used_before) + freed + in_wal, exact, made

    def _too_large_to_index(self, rows: int) -> bool:
        """Whether a copy of ``rows`` rows would be indexed but for DuckDB's memory limit."""
        return rows >= _MIN_ROWS_TO_INDEX and rows > self._max_index_rows

    def _settle(self, wal_before: int) -> tuple[bool, int]:
        """Checkpoint what was just written, if DuckDB lets us soon: whether it did, and
        otherwise the WAL's growth since ``wal_before`` (what is still only in the WAL)."""
        if self._checkpoint_soon():
            return True, 0
        return False, max(0, _file_bytes(_wal(self._path)) - wal_before)

    def _used_bytes(self) -> int:
        rows = self._worker_cursor.execute(
            "SELECT used_blocks FROM pragma_database_size() WHERE database_name = ?",
            [CACHE_DATABASE],
        ).fetchall()
        return int(rows[0][0]) * self._block_bytes

    def _blocks_bytes(self, identity: str) -> int:
        """Bytes of the file blocks holding the copy's column segments.

        A block shared with another copy counts for both, so this errs on the high side.
        Segments not checkpointed yet have no block; the caller adds their WAL bytes.
        """
        rows = self._worker_cursor.execute(
            "SELECT count(DISTINCT block) FROM ("
            " SELECT unnest(list_prepend(block_id, additional_block_ids)) AS block"
            " FROM pragma_storage_info(?) WHERE persistent) WHERE block >= 0",
            [f"{CACHE_DATABASE}.main.t_{identity}"],
        ).fetchall()
        return int(rows[0][0]) * self._block_bytes

    def _checkpoint_soon(self) -> bool:
        """Checkpoint, retrying for a short while; whether it happened."""
        deadline = time.monotonic() + _MEASURE_PATIENCE_SECONDS
        while not self._checkpoint():
            with self._state:
                if self._closed or time.monotonic() >= deadline:
                    return False
                self._state.wait(_MEASURE_RETRY_SECONDS)
        return True

    def _checkpoint(self) -> bool:
        """Move the cache's WAL into its file and free dropped copies' blocks, if DuckDB can.

        DuckDB refuses while queries read the cache; then both wait for a later attempt.
        """
        try:
            self._worker_cursor.execute(f"CHECKPOINT {CACHE_DATABASE}")
        except duckdb.Error:
            return False
        return True

    # -- called with the engine's lock and ``_state`` held ----------------------------------

    def _install(self, identity: str, built: _Built) -> None:
        """Show a finished copy, evicting least recently used ones to stay in the budget; a
        copy that fits only without its indexes is shown without them."""
        if self._closed or identity not in self._views:
            del self._copies[identity]
            self._drop_table(identity)  # its views changed while it was being copied
            return
        size, indexes = built.table_bytes + built.index_bytes, built.indexes
        if size > self._max_bytes and indexes and built.table_bytes <= self._max_bytes:
            for number in range(indexes):
                index = qualified(CACHE_DATABASE, "main", _index_name(identity, number))
                self._connection.execute(f"DROP INDEX {index}")
            self._reclaim = True
            size, indexes = built.table_bytes, 0
        if size > self._max_bytes:
            # Only an exact size rules a copy out for good; an upper bound may be retried.
            self._copies[identity].state = _State.TOO_BIG if built.exact else _State.FAILED
            self._drop_table(identity)
            log.info(
                "table cache: %s needs %d bytes, over the %d-byte budget; it stays on parquet",
                self._names(identity),
                size,
                self._max_bytes,
            )
            return
        while (cached := self._in(_State.CACHED)) and sum(
            self._copies[i].bytes for i in cached
        ) + size > self._max_bytes:
            self._drop(cached[0])
            self._copies[cached[0]] = _Copy(_State.EVICTED, evicted_at=time.monotonic())
        self._copies[identity] = _Copy(_State.CACHED, size, indexes=indexes)
        self._copies.move_to_end(identity)
        for key in self._views[identity]:
            self._point(key, identity)
        log.info(
            "table cache: %s now read from t_%s (%d bytes)", self._names(identity), identity, size
        )

    def _may_queue(self, identity: str) -> bool:
        """Whether a copy not cached may be queued: only one that is new or evicted long ago."""
        source = self._sources[self._views[identity][0]]
        copy = self._copies.get(identity)
        return not (
            self._closed
            or (
                copy is not None
                and (
                    copy.state is not _State.EVICTED
                    or time.monotonic() - copy.evicted_at < _REQUEUE_AFTER_EVICTION_SECONDS
                )
            )
            or source.parquet_bytes > _MAX_PARQUET_TO_BUDGET * self._max_bytes
        )

    def _is(self, identity: str, state: _State) -> bool:
        copy = self._copies.get(identity)
        return copy is not None and copy.state is state

    def _in(self, *states: _State) -> list[str]:
        """The copies in these states, in order (least recently used or oldest first)."""
        return [i for i, copy in self._copies.items() if copy.state in states]

    def _point(self, key: ViewKey, identity: str | None) -> None:
        """Make view ``key`` read copy ``identity``, or its parquet scan for None."""
        if self._pointing.get(key) == identity:
            return
        if identity:
            self._make_schema(key[0], key[1])
            table = _table(identity)
            self._connection.execute(
                f"CREATE OR REPLACE VIEW {qualified(*key)} AS SELECT * FROM {table}"
            )
            self._pointing[key] = identity
        else:
            self._unmake_view(key)
            del self._pointing[key]

    def _drop(self, identity: str) -> None:
        """Evict a copy: its views go back to parquet first, then the table goes."""
        for key in [k for k, i in self._pointing.items() if i == identity]:
            self._point(key, None)
        self._dropped_bytes += self._copies.pop(identity).bytes
        self._drop_table(identity)

    def _drop_table(self, identity: str) -> None:
        # Queries that bound the copy before keep reading it (DuckDB's MVCC).
        self._connection.execute(f"DROP TABLE IF EXISTS {_table(identity)}")
        self._reclaim = True
        self._wake()

    def _wake(self) -> None:
        """Start the worker unless it runs; a running one waiting to retry goes on now."""
        if self._worker is None and not self._closed:
            self._worker = threading.Thread(target=self._work, name="table-cache", daemon=True)
            self._worker.start()
        self._state.notify_all()

    def _names(self, identity: str) -> str:
        """The views showing a scan, for logs: the first name, and how many more there are."""
        keys = self._views.get(identity, [])
        if not keys:
            return "a table no longer served"
        more = f" (and {len(keys) - 1} more names)" if len(keys) > 1 else ""
        return ".".join(keys[0]) + more


def _table(identity: str) -> str:
    return qualified(CACHE_DATABASE, "main", f"t_{identity}")


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def _bytes_of(setting: str) -> int:
    """Bytes of a size as DuckDB shows its settings (``18.8 GiB``, ``953.6 MiB``)."""
    number, _, unit = setting.partition(" ")
    return int(float(number) * _UNITS.get(unit, 1))


def _index_name(identity: str, number: int) -> str:
    """The name of a copy's ``number``-th index (in the copy's schema)."""
    return f"i_{identity}_{number}"


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _file_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fresh_path(directory: Path) -> Path:
    """A new cache file path for this engine, once files of ended processes are removed.

    Nothing persists across restarts: a copy is only trusted by the process that made it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("tables-*.duckdb*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not _running(int(pid)):
            stale.unlink(missing_ok=True)
    path = directory / f"tables-{os.getpid()}-{next(_ENGINE_NUMBERS)}.duckdb"
    for leftover in (path, _wal(path)):  # left by a crashed process that had our pid
        leftover.unlink(missing_ok=True)
    return path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
