"""Results cache: finished results of queries, replayed when the same query comes again.

Dashboards re-run the same SQL every few seconds. A result is kept under everything that
decides it: the SQL text (of an ASCII text, the spaces DuckDB's lexer skips around it and
trailing semicolons dropped; DuckDB compares string literals case-sensitively, so nothing
is lowercased), the parameter rows, the call's default catalog and schema, and the identity
of each table the query reads as published now (its scan names the version's files, with
their sizes). A new version is a new identity, so an old result is never found for it;
publishing drops the results of tables it replaced.

Who calls is not part of the key: once a caller may run a query, its result does not depend
on who they are. The engine checks access on every call before it asks this cache.

Only results that cannot change between runs of the same key are kept: none of a query that
calls a function DuckDB calls volatile or of the moment (``random``, ``uuid``, ``now``,
``current_date``, ...) or that samples rows. A result is stored only once it streamed to
its end, without error or interruption, within ``max_result_bytes``; all results share
``max_bytes``, least recently used first, and each is dropped ``ttl_seconds`` after it was
stored.
"""

from __future__ import annotations

import datetime
import decimal
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from flight_server.engine.guard import SQL_SPACE, Shape, TableKey, one_part_name
from flight_server.identifiers import fold
from flight_server.lru import LruCache

#: Characters of SQL (or tokens of shapes) the cacheability decisions are kept for in all:
#: a key of 16 KiB is held as such, 1,024 of them at most.
_DECIDED_CHARACTERS = 1 << 20
# SQL's value functions, written without parentheses and parsed as column names, that read
# the clock (DuckDB binds them to ``get_current_timestamp`` and the like).
_CLOCK_VALUE_FUNCTIONS = frozenset(
    {"current_date", "current_time", "current_timestamp", "localtime", "localtimestamp"}
)
# Functions that read the clock although DuckDB (2.0) calls them CONSISTENT; ``age`` of one
# timestamp counts from today (found by a review; of two, it reads no clock, and is not
# cached either).
_MISLABELLED_CLOCK_FUNCTIONS = frozenset({"age", "current_localtime", "current_localtimestamp"})
# Called volatile only so that it is never folded away: it raises, and every result it lets
# through is a plain one (``histogram`` and ``json_group_object`` call it on bad input).
_RAISES_ONLY = "error"
_WORD = re.compile(r"[a-z_][a-z0-9_]*")
# What a result costs beyond its buffers (its key, schema and bookkeeping), so that many
# empty results cannot grow the cache without bound.
_ENTRY_BYTES = 1024
# Parameter values whose ``repr`` tells apart every value that binds differently (``1``,
# ``True``, ``1.0`` and ``Decimal('1.0')`` all do); any other type is not cached.
_PLAIN_VALUES = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
)


def volatile_functions(connection: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The functions whose result may differ between two runs of the same query.

    DuckDB's own stability (``VOLATILE`` and ``CONSISTENT_WITHIN_QUERY``), the clock's value
    functions and the ones DuckDB mislabels, and every macro whose body calls one of these.
    """
    rows = connection.execute(
        "SELECT function_name, stability, macro_definition FROM duckdb_functions()"
    ).fetchall()
    volatile = set(_CLOCK_VALUE_FUNCTIONS | _MISLABELLED_CLOCK_FUNCTIONS)
    volatile |= {fold(name) for name, stability, _ in rows if stability not in (None, "CONSISTENT")}
    volatile.discard(_RAISES_ONLY)
    macros = {fold(name): frozenset(_WORD.findall(body.lower())) for name, _, body in rows if body}
    grown = True
    while grown:  # a macro may call a macro that calls a volatile function
        found = {name for name, words in macros.items() if words & volatile} - volatile
        volatile |= found
        grown = bool(found)
    return frozenset(volatile)


def normalised(sql: str) -> str:
    """``sql`` without what cannot change its meaning: the spaces DuckDB's lexer skips
    around it, and a trailing ``;``; a text that is not ASCII as it is.

    A trailing semicolon of a valid statement ends it or sits in a trailing line comment.
    Python's idea of whitespace is wider than the lexer's, and DuckDB's is not one idea:
    it reads U+00A0 between tokens as a space but at the very end of a text as part of a
    name, so ``k``, ``k`` + U+00A0 and ``k`` + U+00A0 + space are three texts and two
    meanings (found by an attack run and a review). Every ASCII character means the same
    with or without spaces or a ``;`` after it (checked for all 128).
    """
    if not sql.isascii():
        return sql
    return sql.strip(SQL_SPACE).rstrip(";").rstrip(SQL_SPACE)


@dataclass(frozen=True)
class ResultKey:
    """What decides a query's result (see the module's docstring)."""

    sql: str
    default_catalog: str | None
    default_schema: str | None
    parameters: str
    #: ``(table, identity)`` of each table read, sorted.
    tables: tuple[tuple[TableKey, str], ...]
    #: The cache's publish generation the identities were read in; not part of the key.
    generation: int = field(default=0, compare=False)


@dataclass(frozen=True)
class CachedResult:
    """A finished result: exactly the schema and batches the query streamed."""

    schema: pa.Schema
    batches: tuple[pa.RecordBatch, ...]
    bytes: int


@dataclass(frozen=True)
class ResultCacheStats:
    """What the results cache holds now and how lookups went since the engine started."""

    results: int
    bytes: int
    hits: int
    misses: int


class Recording:
    """The batches of one result as it streams, stored only if ``commit`` is called."""

    def __init__(self, cache: ResultCache, key: ResultKey, limit: int) -> None:
        self._cache = cache
        self._key = key
        self._limit = limit
        self._batches: list[pa.RecordBatch] | None = []
        self._buffers: set[int] = set()
        self._bytes = 0

    def add(self, batch: pa.RecordBatch) -> bool:
        """Keep ``batch``; False once the result is over the limit (nothing is kept then)."""
        if self._batches is None:
            return False
        self._bytes += _new_buffer_bytes(batch, self._buffers)
        if self._bytes > self._limit:
            self._batches = None
            self._buffers.clear()
            return False
        self._batches.append(batch)
        return True

    def commit(self, schema: pa.Schema) -> None:
        """The result streamed to its end: store it (if it stayed within the limit)."""
        if self._batches is not None:
            result = CachedResult(schema, tuple(self._batches), self._bytes)
            self._cache.store(self._key, result)


class ResultCache:
    """Finished results by ``ResultKey``, within ``max_bytes`` and ``ttl_seconds``.

    ``volatile``: the function names that keep a query out (``volatile_functions``).
    """

    def __init__(
        self, max_bytes: int, max_result_bytes: int, ttl_seconds: float, volatile: frozenset[str]
    ) -> None:
        self._max_bytes = max_bytes
        self._max_result_bytes = min(max_result_bytes, max_bytes)
        self._ttl = ttl_seconds
        self._volatile = volatile
        # Whether a SQL text may be cached at all, by text or shape (parsing it costs a
        # bind's worth).
        self._cacheable: LruCache[str | Shape, bool] = LruCache(
            1024, max_weight=_DECIDED_CHARACTERS, weight=lambda key, _stable: len(key)
        )
        self._lock = threading.Lock()
        # Results with their expiry, by last use; and expiries in storing order, which is
        # expiry order (a key stored again has a newer record; the older one is skipped).
        self._entries: OrderedDict[ResultKey, tuple[float, CachedResult]] = OrderedDict()
        self._expiries: deque[tuple[float, ResultKey]] = deque()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._identities: dict[TableKey, str] = {}
        self._generation = 0
        self._publishing = False

    # -- keys -------------------------------------------------------------------------------

    def key(
        self,
        parsed: Callable[[], dict[str, Any] | None],
        sql: str,
        defaults: tuple[str | None, str | None],
        parameter_rows: Sequence[Sequence[object] | None],
        reads: Iterable[TableKey],
        shape: Shape | None = None,
    ) -> ResultKey | None:
        """The key of a query about to run, or None if its result must not be kept.

        ``reads``: the published tables it reads; ``parsed`` gives its parse tree (None
        if DuckDB cannot serialise it), asked once per text: the engine's own parse, so
        the text is not parsed again here. Or once per ``shape``, if the guard gave one:
        texts of a shape differ only in their constants' values, so they call the same
        functions and sample alike.
        """
        parameters = _parameters_key(parameter_rows)
        if parameters is None:
            return None
        text = normalised(sql)
        decided_by = text if shape is None else shape
        if not self._cacheable.get_or_make(decided_by, lambda: self._is_stable(parsed())):
            return None
        with self._lock:
            if self._publishing:
                return None  # views are changing: no identity is sure to match its view
            identities, generation = self._identities, self._generation
        tables = []
        for table in sorted(set(reads)):
            identity = identities.get(table)
            if identity is None:
                return None
            tables.append((table, identity))
        return ResultKey(text, *defaults, parameters, tuple(tables), generation)

    def table_key(self, table: TableKey) -> ResultKey | None:
        """The key of the whole of ``table`` as published now (what a copy of it is kept
        under), or None while views are changing or if it is not published."""
        with self._lock:
            identity = None if self._publishing else self._identities.get(table)
            if identity is None:
                return None
            return ResultKey("", None, None, "", ((table, identity),), self._generation)

    def _is_stable(self, tree: dict[str, Any] | None) -> bool:
        """Whether the statement of ``tree`` calls no volatile function and samples no rows."""
        if tree is None:
            return False
        stack: list[Any] = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            if node.get("sample") is not None:
                return False
            if fold(str(node.get("function_name", ""))) in self._volatile:
                return False
            if one_part_name(node) in _CLOCK_VALUE_FUNCTIONS:
                return False
            stack.extend(node.values())
        return True

    # -- results ----------------------------------------------------------------------------

    def get(self, key: ResultKey) -> CachedResult | None:
        """The stored result of ``key``, if it is still fresh."""
        with self._lock:
            self._expire(time.monotonic())
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[1]

    def holds(self, key: ResultKey) -> bool:
        """Whether a result of ``key`` is stored now (not counted as a lookup)."""
        with self._lock:
            return key in self._entries

    def recording(self, key: ResultKey) -> Recording:
        """A recorder for the result of ``key`` as it streams."""
        return Recording(self, key, self._max_result_bytes)

    def store(self, key: ResultKey, result: CachedResult) -> None:
        """Keep ``result``, unless tables were published since its key was made."""
        if _cost(key, result) > self._max_bytes:
            return
        with self._lock:
            if self._publishing or key.generation != self._generation:
                return  # it may have read views its key does not name
            now = time.monotonic()
            self._expire(now)
            self._drop(key)
            deadline = now + self._ttl
            self._entries[key] = (deadline, result)
            self._expiries.append((deadline, key))
            self._bytes += _cost(key, result)
            while self._bytes > self._max_bytes:  # the least recently used go first
                self._drop(next(iter(self._entries)))

    def stats(self) -> ResultCacheStats:
        with self._lock:
            return ResultCacheStats(len(self._entries), self._bytes, self._hits, self._misses)

    # -- publishing -------------------------------------------------------------------------

    def publishing(self) -> None:
        """Views are about to change: make no key and store no result until ``published``."""
        with self._lock:
            self._publishing = True
            self._generation += 1

    def published(self, identities: Mapping[TableKey, str]) -> None:
        """Views show ``identities`` now: drop the results of tables that changed or went."""
        with self._lock:
            self._identities = dict(identities)
            self._generation += 1
            self._publishing = False
            stale = [
                key
                for key in self._entries
                if any(identities.get(table) != identity for table, identity in key.tables)
            ]
            for key in stale:
                self._drop(key)

    def _drop(self, key: ResultKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= _cost(key, entry[1])

    def _expire(self, now: float) -> None:
        """Drop the results stored ``ttl_seconds`` ago or more."""
        while self._expiries and self._expiries[0][0] <= now:
            deadline, key = self._expiries.popleft()
            entry = self._entries.get(key)
            if entry is not None and entry[0] == deadline:
                self._drop(key)


def _cost(key: ResultKey, result: CachedResult) -> int:
    return result.bytes + len(key.sql) + _ENTRY_BYTES


def _parameters_key(rows: Sequence[Sequence[object] | None]) -> str | None:
    """The parameter rows as text that differs whenever the values bind differently."""
    if not all(row is None or _plain(row) for row in rows):
        return None
    return repr([None if row is None else list(row) for row in rows])


def _plain(value: object) -> bool:
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN_VALUES)


def _new_buffer_bytes(batch: pa.RecordBatch, seen: set[int]) -> int:
    """The bytes of ``batch``'s buffers not already in ``seen`` (slices share theirs)."""
    total = 0
    for column in batch.columns:
        for buffer in column.buffers():
            if buffer is not None and buffer.address not in seen:
                seen.add(buffer.address)
                total += buffer.size
    return total
