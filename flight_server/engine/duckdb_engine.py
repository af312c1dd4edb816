"""One DuckDB database: catalogs as attached in-memory databases, datasets as views."""

from __future__ import annotations

import logging
import math
import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import duckdb
import pyarrow as pa

from flight_server.catalog.loading import UnreadableTable
from flight_server.catalog.model import (
    Dataset,
    DerivedTable,
    LoadedFiles,
    ServedTable,
    Snapshot,
    Table,
)
from flight_server.config import EngineSettings
from flight_server.engine import duckdb_calls, file_matching, partitioning, plain_reads
from flight_server.engine.arrow_types import without_dictionaries
from flight_server.engine.errors import ErrorKind, QueryError, classify, unreadable
from flight_server.engine.execution import Execution
from flight_server.engine.federation import derived_sql
from flight_server.engine.guard import (
    Analysis,
    Shape,
    StatementBounds,
    TableAccess,
    TableKey,
    analyse,
    authorise,
    shape_of,
    table_key,
)
from flight_server.engine.result_cache import (
    ResultCache,
    ResultCacheStats,
    ResultKey,
    volatile_functions,
)
from flight_server.engine.sql_text import grouped_scan, qualified, quote_ident, quote_literal
from flight_server.engine.table_cache import (
    CACHE_DATABASE,
    CacheSource,
    CacheStats,
    ParquetFiles,
    TableCache,
)
from flight_server.identifiers import fold
from flight_server.lru import LruCache
from flight_server.storage.routing import PROTOCOL, DatasetRouter

log = logging.getLogger(__name__)

# Set when the database opens: no extension is fetched or loaded behind a query's back,
# and no name resolves to a Python object in the server's own stack frames.
_LOCKDOWN: dict[str, str | int | bool] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}
# Set once the database is open (parquet's own settings are unknown to ``connect``), for
# every connection: a plain ``SET`` reaches only the engine's own, and queries run on
# cursors. Footers are read once and reused by later queries: no repeat footer reads on
# object storage, and binding a view does not re-read its first file.
_AFTER_OPEN = ("SET GLOBAL parquet_metadata_cache = true",)

#: Catalog names DuckDB or the engine keep for themselves; no dataset is served under them
#: (``memory`` is where unqualified names resolve when a call sets no defaults).
RESERVED_CATALOGS = frozenset(
    {"memory", "system", "temp", "main", "pg_catalog", "information_schema", CACHE_DATABASE}
)
#: Schema names every catalog has or resolves specially (``main`` cannot be dropped).
RESERVED_SCHEMAS = frozenset({"main", "pg_catalog", "information_schema"})

#: Longer statements are analysed and planned afresh each time, so caches keyed by SQL
#: text stay small however large the statements callers send.
MAX_CACHED_SQL = 16_384
#: Characters of SQL each cache keyed by text or shape holds in all, beside its count of
#: entries: what is kept grows with the text (a parse tree takes up to about 400 bytes a
#: character: 60 texts of 16 KiB held 250 MB, and 1,024 would have held 4 GB). Trees are
#: needed only from a statement's plan to its run, and get the smaller share.
_CACHED_SQL_CHARACTERS = 1 << 20
_CACHED_TREE_CHARACTERS = 1 << 17
#: Columns of result schemas each cache of them keeps in all, beside its count of entries
#: (a statement of 5,000 columns is one entry): the engine's Arrow schemas, the server's
#: plans and described schemas.
MAX_CACHED_COLUMNS = 1 << 17
# How the guard passed a new text (``Engine.analysis_counts``).
_PARSED = "parsed"
_BY_SHAPE = "shape"

#: Called with each query's SQL and execution as it starts; returns the execution to run
#: (the ops telemetry wraps it to count rows and bytes and to log the query's end).
ExecutionWatch = Callable[[str, Execution], Execution]


def unwatched(_sql: str, execution: Execution) -> Execution:
    return execution


#: A dataset as grants know it: ``(catalog, name, Flywheel project id or None)``.
_Dataset = tuple[str, str, str | None]
#: A schema's dataset, and the centres it reads when it is federated.
_Owner = tuple[str, str, str | None, tuple[_Dataset, ...]]


@dataclass(frozen=True)
class QueryContext:
    """Per-call defaults that make unqualified names (``SELECT * FROM sessions``) resolve."""

    default_catalog: str | None = None
    default_schema: str | None = None
    #: Whether the caller may read dataset ``(catalog, name, Flywheel project id or None,
    #: centres)``, ``centres`` being the datasets a federated one reads (else empty);
    #: None reads every dataset.
    may_read: Callable[[str, str, str | None, tuple[_Dataset, ...]], bool] | None = field(
        default=None, compare=False
    )


@dataclass(frozen=True)
class Plan:
    """What planning a statement tells us before it runs."""

    schema: pa.Schema
    type_names: tuple[str, ...]
    parameter_count: int
    #: The published tables it reads, so a server can tell it may not run in parts
    #: without analysing it again.
    tables: tuple[TableKey, ...] = ()
    #: The shape of every text this plan holds for, against the same views, defaults and
    #: grants: the guard's, when its constants only choose rows and none is a parameter.
    #: None if it holds for its own text only.
    shape: Shape | None = None


#: Tables of fewer files are always read whole: pruning them would save little, and the
#: analysis costs about a millisecond per query.
_MIN_FILES_TO_PRUNE = 16
#: What pruning answers by pruning nothing: values DuckDB reads otherwise than as written,
#: literals or bounds the column's type (or Python) cannot hold, a table changed meanwhile.
_UNDECIDED = (duckdb.Error, QueryError, ArithmeticError, ValueError, pa.ArrowException)
_PROBE = "PREPARE fw_parameter_probe AS "


def _without_probe(message: str) -> str:
    """A DuckDB error about the probe, told as if about the caller's SQL (caret included)."""
    lines = []
    for line in message.replace(_PROBE, "").splitlines():
        if line.strip().startswith("^") and line.startswith(" " * len(_PROBE)):
            line = line[len(_PROBE) :]
        lines.append(line)
    return "\n".join(lines)


def _parameter_count(cursor: duckdb.DuckDBPyConnection, sql: str) -> int:
    """How many parameters ``sql`` takes, from DuckDB's own prepared-statement catalog.

    DuckDB reports their types as UNKNOWN until values are bound, so only the count is used.
    """
    try:
        cursor.execute(_PROBE + sql)
    except duckdb.Error as exc:
        raise classify(type(exc)(_without_probe(str(exc)))) from None
    try:
        rows = cursor.sql(
            "SELECT coalesce(len(parameter_types), 0) FROM duckdb_prepared_statements()"
            " WHERE name = 'fw_parameter_probe'"
        ).fetchall()
    finally:
        cursor.execute("DEALLOCATE fw_parameter_probe")
    return int(rows[0][0]) if rows else 0


class Engine:
    """Publishes catalog snapshots as DuckDB views and runs read-only SQL over them."""

    def __init__(
        self,
        settings: EngineSettings,
        watch: ExecutionWatch = unwatched,
        local_roots: Collection[str] = (),
        bounds: StatementBounds | None = None,
    ) -> None:
        """``local_roots``: local dataset directories known at start-up, read natively.

        Every other dataset (remote, or local but found later) is read through the router.
        ``bounds``: how large a statement may be before it is parsed and planned.
        """
        self._settings = settings
        self._bounds = bounds or StatementBounds()
        self._watch = watch
        config: dict[str, str | int | bool] = {"temp_directory": settings.temp_directory}
        if settings.threads:
            config["threads"] = settings.threads
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        self._db = duckdb.connect(":memory:", config={**config, **_LOCKDOWN})
        for statement in _AFTER_OPEN:
            self._db.execute(statement)
        # DuckDB starts in the host's zone, which would label results and shift casts.
        self._db.execute(f"SET GLOBAL TimeZone = {quote_literal(settings.time_zone)}")
        self._lock = threading.Lock()
        # The published views not made in DuckDB yet, by folded name (``_ensure_views``).
        self._pending: dict[TableKey, tuple[tuple[str, str, str], CacheSource]] = {}
        # The schemas made in DuckDB (on first use too), folded, with their spelling.
        self._made_schemas: dict[tuple[str, str], tuple[str, str]] = {}
        # What each published view shows, by its name as published.
        self._sources: dict[tuple[str, str, str], CacheSource] = {}
        # The parquet bytes each published view reads, by folded name.
        self._parquet_bytes: dict[TableKey, int] = {}
        # Published tables' plans by what their views show (``CacheSource.identity``): the
        # names of one table (``d``, ``d@label``, ``d@id``) share one bind.
        self._schema_cache: dict[str, Plan] = {}
        # Parsing and checking a query's shape, and turning DuckDB types into Arrow, each
        # cost about a millisecond; both depend only on their inputs, so they are reused.
        self._analyses: LruCache[tuple[str, str | None, str | None], Analysis] = LruCache(
            1024, max_weight=_CACHED_SQL_CHARACTERS, weight=_text_length
        )
        # And by shape, for new texts of a known shape (a lookup by another value).
        self._shapes: LruCache[tuple[Shape, str | None, str | None], Analysis] = LruCache(
            1024, max_weight=_CACHED_SQL_CHARACTERS, weight=_text_length
        )
        self._counts_lock = threading.Lock()
        self._analysis_counts = {_PARSED: 0, _BY_SHAPE: 0}
        self._arrow_schemas: LruCache[tuple[tuple[str, str], ...], pa.Schema] = LruCache(
            1024, max_weight=MAX_CACHED_COLUMNS, weight=lambda signature, _schema: len(signature)
        )
        self._part_trees: LruCache[str, partitioning.Tree | None] = LruCache(
            1024, max_weight=_CACHED_TREE_CHARACTERS, weight=lambda sql, _tree: len(sql)
        )
        self._rewrites: LruCache[tuple[str, int], tuple[ServedTable, str]] = LruCache(1024)
        self._paddings: LruCache[tuple[int, tuple[str, ...]], tuple[Table, str]] = LruCache(256)
        self._not_row_wise = partitioning.row_wise_functions_excluded(self._db)
        # The table a part's query is bound to before its scan is spliced in: a name no
        # caller can know, so no query text can contain it (``partitioning.spliced``).
        self._placeholder = f"fw_part_{secrets.token_hex(16)}"
        placeholder_tree = partitioning.parse(self._db, f"SELECT * FROM {self._placeholder}")
        assert placeholder_tree is not None, "DuckDB serialises a plain SELECT"
        self._placeholder_tree = placeholder_tree
        # The published tables that read files of their own (derived tables do not), as
        # served (files, rows and per-file bounds once loaded), for pruning and parts.
        self._file_tables: dict[TableKey, ServedTable] = {}
        # The published views by folded name, and the dataset each folded schema belongs
        # to (grants are asked about datasets, whatever spelling or version a query uses);
        # one attribute, replaced whole, so a query never pairs old and new halves.
        self._published: tuple[frozenset[TableKey], dict[tuple[str, str], _Owner]] = (
            frozenset(),
            {},
        )
        self._native_roots = tuple(sorted({_directory(root) for root in local_roots}))
        self._native_set = frozenset(self._native_roots)
        self._router = DatasetRouter(settings.tail_cache_bytes)
        self._db.register_filesystem(self._router)
        self._table_cache = (
            TableCache(
                self._db,
                self._lock,
                settings.cache_directory,
                settings.cache_bytes,
                settings.cache_index_columns,
                self._make_schema,
                self._unmake_view,
            )
            if settings.cache_bytes
            else None
        )
        self._results = (
            ResultCache(
                settings.result_cache_bytes,
                settings.result_cache_max_result_bytes,
                settings.result_cache_seconds,
                volatile_functions(self._db),
            )
            if settings.result_cache_bytes
            else None
        )
        # Whole tables' results, kept as the results cache keeps one query's, under the
        # table's identity instead of a text: no expiry (a new version is a new identity).
        budget = settings.memory_table_bytes
        self._memory_tables = ResultCache(budget, budget, math.inf, frozenset()) if budget else None
        self._lock_down(settings)

    def _lock_down(self, settings: EngineSettings) -> None:
        """DuckDB's own file barrier, holding even for SQL the guard never saw.

        Only the native dataset roots, the routed datasets' protocol (whose router refuses
        paths outside its datasets), spill and cache folders may be read or written; then
        no statement can change any setting. ``allowed_directories`` cannot change once
        external access is off, which is why remote and later datasets share one protocol.
        """
        allowed = [
            *self._native_roots,
            f"{PROTOCOL}://",
            _directory(settings.temp_directory),
            _directory(settings.cache_directory),
        ]
        listed = ", ".join(quote_literal(entry) for entry in allowed)
        self._db.execute(f"SET allowed_directories = [{listed}]")
        self._db.execute("SET enable_external_access = false")
        self._db.execute("SET lock_configuration = true")

    # -- publishing -------------------------------------------------------------------------

    def publish(self, snapshot: Snapshot) -> None:
        """Make DuckDB's catalogs, schemas and views match ``snapshot`` exactly.

        Views are made on first use (``_ensure_views``), so publishing costs no DuckDB bind
        per table. Unchanged views are left alone; queries already running keep the files
        they bound.
        Names are compared folded, as DuckDB does: a project renamed only in case keeps its
        views instead of losing them to the drop of its old spelling.
        """
        # A table is served under several names (``d``, ``d@label``, ``d@id``): one source
        # each, shared by its names rather than built for every one. No footer is read: a
        # view's SELECT is written when it is first made.
        built: dict[tuple[int, int], CacheSource] = {}
        reached: dict[int, str | None] = {}
        sources = {}
        file_tables = {}
        for served in snapshot.served_tables():
            dataset, shown = served.dataset, (id(served.dataset), id(served.table))
            if shown not in built:
                if id(dataset) not in reached:
                    reached[id(dataset)] = self._reach(dataset)
                built[shown] = _table_source(dataset, served.table, reached[id(dataset)])
            sources[served.key] = built[shown]
            file_tables[served.key] = served
        views = dict(sources)
        for schema in snapshot.derived:
            for derived in schema.tables:
                key = (schema.catalog, schema.name, derived.name)
                views[key] = self._derived_source(derived)
        # What each view shows, for telling a changed view and for the results cache.
        wanted = {key: source.identity for key, source in views.items()}
        with self._lock:
            for store in self._stores():
                store.publishing()
            attached = {
                fold(row[0])
                for row in self._db.execute(
                    "SELECT database_name FROM duckdb_databases()"
                ).fetchall()
            }
            for catalog in sorted({key[0] for key in wanted if fold(key[0]) not in attached}):
                self._db.execute(f"ATTACH ':memory:' AS {quote_ident(catalog)}")
                attached.add(fold(catalog))
            # Schemas and views are made on first use (``_ensure_views``): each DDL
            # statement costs DuckDB about 0.3 ms. A changed or dropped view is dropped
            # whether made or not: the table cache may have made it.
            folded = {key: table_key(*key) for key in wanted}
            unmade = self._pending
            before = {table_key(*key): source.identity for key, source in self._sources.items()}
            pending: dict[TableKey, tuple[tuple[str, str, str], CacheSource]] = {}
            for key, shown in wanted.items():
                name = folded[key]
                if before.get(name) == shown:
                    if name in unmade:
                        pending[name] = (key, views[key])  # still unused
                    continue  # its view, if made, stands as it is
                if name in before:  # a view made from the old SQL would outlive it
                    self._db.execute(f"DROP VIEW IF EXISTS {qualified(*key)}")
                pending[name] = (key, views[key])
            self._pending = pending
            served = frozenset(folded.values())
            live = set(wanted.values())
            self._schema_cache = {i: p for i, p in self._schema_cache.items() if i in live}
            for key in self._sources:
                if table_key(*key) not in served:
                    self._db.execute(f"DROP VIEW IF EXISTS {qualified(*key)}")
            live_schemas = {name[:2] for name in served}
            for schema_key, spelled in list(self._made_schemas.items()):
                if schema_key not in live_schemas:
                    self._db.execute(f"DROP SCHEMA IF EXISTS {qualified(*spelled)}")
                    del self._made_schemas[schema_key]
            self._published = (served, _owners(snapshot))
            self._file_tables = {folded[key]: served for key, served in file_tables.items()}
            self._sources = views
            self._parquet_bytes = {folded[key]: view.parquet_bytes for key, view in views.items()}
            if self._table_cache:
                self._table_cache.publish(sources)
            for store in self._stores():
                store.published(_by_folded_name(wanted, folded))

    def republish(self) -> None:
        """The catalog was read again and nothing changed: the views stand, and copies the
        table cache failed to make are tried again, as after a publish."""
        if self._table_cache:
            self._table_cache.forget_failures()

    def _ensure_views(self, keys: Sequence[TableKey]) -> None:
        """Create the views of ``keys`` not made yet: a view is made on its first use.

        Making one binds its scan (about 0.7 ms), and most tables of a large site, pinned
        versions above all, are not queried between two publishes. A view DuckDB refuses
        (its files vanished or their storage fails) fails the query that needed it, as a
        storage fault under a query does, and is tried again by the next one; every other
        view is unaffected.
        """
        todo = [(key, entry) for key in keys if (entry := self._pending.get(key)) is not None]
        # Written before the lock is taken: a first use reads the table's footers, which
        # must not hold up every other query.
        made = [(folded, key, src, self._source_sql(key, src)) for folded, (key, src) in todo]
        with self._lock:
            for folded, key, source, sql in made:
                if self._pending.get(folded) != (key, source):
                    continue  # made meanwhile, or a publish replaced it
                try:
                    self._make_schema(key[0], key[1])
                    self._create_view(key, sql)
                except duckdb.Error as exc:
                    raise classify(exc, [".".join(key)]) from None
                del self._pending[folded]

    def _source_sql(self, key: Sequence[str], source: CacheSource) -> str:
        """A view's SELECT, written now if it was not yet (reading its table's footers)."""
        with _reading(key):
            return source.sql

    def _make_schema(self, catalog: str, schema: str) -> None:
        """Create a published schema in DuckDB unless made already (the lock is held)."""
        folded = (fold(catalog), fold(schema))
        if folded not in self._made_schemas:
            self._db.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(catalog, schema)}")
            self._made_schemas[folded] = (catalog, schema)

    def _unmake_view(self, key: tuple[str, str, str]) -> None:
        """Drop a view (the table cache's copy of it went) to be made again on its next use
        (the lock is held)."""
        self._db.execute(f"DROP VIEW IF EXISTS {qualified(*key)}")
        if key in self._sources:
            self._pending[table_key(*key)] = (key, self._sources[key])

    def _create_view(self, key: tuple[str, str, str], sql: str) -> None:
        # The table cache may have made it already, pointing at its copy.
        self._db.execute(f"CREATE VIEW IF NOT EXISTS {qualified(*key)} AS {sql}")

    def _reach(self, dataset: Dataset) -> str | None:
        """None when DuckDB reads the dataset's files itself (they lie under a native root);
        otherwise the router's prefix that stands for its root."""
        root = dataset.location.root
        if dataset.location.type == "fs" and self._is_native(root):
            return None
        identity = f"{dataset.catalog}\0{dataset.name}\0{dataset.location.display()}"
        return self._router.route(identity, dataset.filesystem, root)

    def _view_sql(
        self, dataset: Dataset, table: Table, files: Collection[str] | None = None
    ) -> str:
        """The SELECT a table of the published snapshot runs (over ``files`` only, when
        given), reading its footers now unless they are held (``Table.loaded``)."""
        return _scan_sql(table, self._reach(dataset), dataset.location.root, files)

    def _is_native(self, root: str) -> bool:
        """Whether DuckDB may read ``root`` itself: it lies in a local root allowed at start.

        Asked once per view of every publish: each of the root's ancestors is looked up, so
        the cost does not grow with the number of configured roots.
        """
        directory = _directory(root)
        allowed = self._native_set
        return any(
            directory[: end + 1] in allowed for end, char in enumerate(directory) if char == "/"
        )

    def _derived_source(self, derived: DerivedTable) -> CacheSource:
        """A derived table's source: its SQL with each input name bound to that input's
        scan, written on first need as a dataset table's is."""
        body = derived_sql(derived)
        inputs = {
            name: _table_source(i.dataset, i.table, self._reach(i.dataset))
            for name, i in derived.inputs.items()
        }
        identity = CacheSource.identify(body, *(f"{n}\0{s.identity}" for n, s in inputs.items()))

        def make_sql() -> str:
            if not inputs:
                return body
            bindings = ", ".join(f"{quote_ident(n)} AS ({s.sql})" for n, s in inputs.items())
            return f"WITH {bindings} {body}"

        return CacheSource(identity, sum(s.parquet_bytes for s in inputs.values()), make_sql)

    # -- hot table cache --------------------------------------------------------------------

    def cache_stats(self) -> CacheStats:
        """Tables and bytes the table cache holds, and tables queued (zeros when off).

        Benchmarks and tests wait for ``pending`` to reach 0: then the tables they ran
        queries on are warm.
        """
        return self._table_cache.stats() if self._table_cache else CacheStats(0, 0, 0)

    def result_cache_stats(self) -> ResultCacheStats:
        """Results the results cache holds, and its hits and misses (zeros when off)."""
        return _stats_of(self._results)

    def memory_table_stats(self) -> ResultCacheStats:
        """Tables the memory tables hold, and how plain reads found them (zeros when off)."""
        return _stats_of(self._memory_tables)

    def _stores(self) -> list[ResultCache]:
        """The results cache and the memory tables, as configured: both follow publishing."""
        return [store for store in (self._results, self._memory_tables) if store is not None]

    def memory_bytes(self) -> int:
        """Memory DuckDB's buffer manager holds now: running queries, caches, temp buffers.

        This is DuckDB's own accounting; the process's RSS also counts what the allocator
        keeps for reuse after queries end, so it cannot show whether a stopped query let go.
        """
        cursor = self._db.cursor()
        try:
            row = cursor.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
        finally:
            cursor.close()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        """Stop background copying into the table cache; running queries are not affected."""
        if self._table_cache:
            self._table_cache.close()

    # -- queries ----------------------------------------------------------------------------

    def plan(
        self,
        sql: str,
        context: QueryContext,
        parameters: Sequence[object] | None = None,
        on_cursor: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> Plan:
        """Result schema, DuckDB type names and parameter count of ``sql``, without running it.

        ``on_cursor`` is handed the cursor planning runs on before any work starts, so the
        caller can interrupt a bind that runs too long (parsing and binding huge statements
        take seconds).
        """
        cursor, reads, analysis = self._checked_cursor(sql, context, on_cursor)
        try:
            # Without a "?" or "$" anywhere there can be no placeholder: skip the probe.
            count = _parameter_count(cursor, sql) if ("?" in sql or "$" in sql) else 0
            values = list(parameters) if parameters is not None else [None] * count
            # Bound over the files it may read: binding a scan stats each of its files.
            run = self._pruned(cursor, sql, reads)
            names, types = duckdb_calls.signature(cursor, run, values)
            type_names = tuple(str(t) for t in types)
            signature = tuple(zip(names, type_names, strict=True))
            schema = self._arrow_schemas.get_or_make(
                signature, lambda: _arrow_schema(cursor, signature, run, values)
            )
            by_shape = analysis.columns_follow_shape and not count and parameters is None
            shape = analysis.shape if by_shape else None
            return Plan(schema, type_names, count, tuple(dict.fromkeys(reads)), shape)
        except duckdb.Error as exc:
            raise classify(exc, _names(reads)) from None

    def start(
        self,
        sql: str,
        context: QueryContext,
        parameter_rows: Sequence[Sequence[object]] | None = None,
    ) -> Execution:
        """A query ready to run once per parameter row (once if there are none).

        A result the results cache holds is replayed, once the caller passed the same
        checks as for running it.
        """
        cursor, reads, analysis = self._checked_cursor(sql, context)  # guard, grants: every call
        if self._table_cache:
            # Only running queries count as use: planning and catalog listings of every
            # table (a BI tool connecting) must not queue copies of everything.
            self._table_cache.touch(reads)
        rows = list(parameter_rows) if parameter_rows else [None]
        recording = None
        if not parameter_rows and (copy := self._table_copy(cursor, sql, reads)) is not None:
            copy_key, read = copy
            assert self._memory_tables is not None
            found = self._memory_tables.get(copy_key)
            if found is not None and (result := plain_reads.projected(found, read)) is not None:
                cursor.close()
                return self._watch(sql, Execution.replaying(result, _names(reads)))
            if read.columns is None and self._may_fit(reads[0]):  # the whole table
                recording = self._memory_tables.recording(copy_key)
        key = None
        if recording is None and self._results and len(sql) <= MAX_CACHED_SQL:
            defaults = (context.default_catalog, context.default_schema)
            parsed = partial(self._parsed, cursor, sql)
            key = self._results.key(parsed, sql, defaults, rows, reads, analysis.shape)
        if key is not None and (result := self._results.get(key)) is not None:
            cursor.close()
            return self._watch(sql, Execution.replaying(result, _names(reads)))
        if key is not None:
            recording = self._results.recording(key)
        run = sql if parameter_rows else self._pruned(cursor, sql, reads)
        execution = Execution(
            cursor,
            [(run, row) for row in rows],
            self._settings.batch_rows,
            _names(reads),
            recording,
        )
        return self._watch(sql, execution)

    def _table_copy(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, reads: Sequence[TableKey]
    ) -> tuple[ResultKey, plain_reads.PlainRead] | None:
        """The key of the memory copy a plain read of one table is answered from, and what
        it reads; None for any other query, or with memory tables off.

        ``reads``: the tables the checked query may bind (one, or DuckDB may pick another).
        """
        if self._memory_tables is None or len(set(reads)) != 1 or len(sql) > MAX_CACHED_SQL:
            return None
        read = plain_reads.plain_read(self._parsed(cursor, sql))
        if read is None:
            return None
        copy_key = self._memory_tables.table_key(reads[0])
        return None if copy_key is None else (copy_key, read)

    def _whole_from_memory(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, reads: Sequence[TableKey]
    ) -> bool:
        """Whether a plain read is answered whole: its table's memory copy answers it, or
        the table may fit the memory tables and this read, if of every column, makes the
        copy (parts never do). An Arrow copy is rarely smaller than its parquet (the scan
        benchmark's table: 278 MB of parquet, 686 MB as Arrow), so a table over the budget
        as parquet keeps its parts."""
        copy = self._table_copy(cursor, sql, reads)
        if copy is None:
            return False
        assert self._memory_tables is not None
        if self._memory_tables.holds(copy[0]):
            return True
        return copy[1].columns is None and self._may_fit(reads[0])

    def _may_fit(self, table: TableKey) -> bool:
        """Whether ``table``'s Arrow copy may fit the memory tables: its parquet does. A read
        of a larger table records no copy, so it never holds up to the budget in vain."""
        size = self._parquet_bytes.get(table)
        return size is not None and size <= self._settings.memory_table_bytes

    def start_scan(
        self,
        target: Sequence[str],
        dataset: Dataset,
        table: Table,
        files: Collection[str],
        may_read: Callable[[str, str, str | None], bool] | None = None,
    ) -> Execution:
        """Read some of a published table's files with exactly the table's columns and types.

        Files that lack a column yield NULLs for it, so every part has the whole schema.
        ``may_read`` is the caller's grant, as in ``QueryContext``.
        """
        key = tuple(target)
        hidden = may_read is not None and not may_read(
            dataset.catalog, dataset.name, dataset.project_id
        )
        if hidden:
            raise QueryError(ErrorKind.NOT_FOUND, f"table {'.'.join(key)} has changed")
        cursor = self._cursor()
        try:
            with _reading(key):
                sql = self._part_scan(key, dataset, table, files)
        except BaseException:
            cursor.close()
            raise
        execution = Execution(cursor, [(sql, None)], self._settings.batch_rows, _names([key]))
        return self._watch(sql, execution)

    def table_rows(self, key: TableKey) -> int:
        """The rows of a published table that reads files of its own (else 0)."""
        served = self._file_tables.get(key)
        return 0 if served is None else self.loaded(served).rows

    def loaded(self, served: ServedTable) -> LoadedFiles:
        """A served table's footers (``Table.loaded``), a failure to read them told as a
        failure of the table."""
        with _reading(served.key):
            return served.table.loaded

    def part_table(self, sql: str, context: QueryContext) -> TableKey | None:
        """The one table ``sql`` reads, if it may run in parts over that table's files.

        None for any query whose parts' union could differ from its result (see
        ``partitioning``), and for derived tables, which have no files of their own.
        """
        cursor, reads, _analysis = self._checked_cursor(sql, context)
        try:
            if self._table_cache and any(self._table_cache.holds(key) for key in reads):
                return None  # its copy answers whole, faster than parts over parquet
            if self._whole_from_memory(cursor, sql, reads):
                return None
            return self._part_shape(cursor, sql, reads)[1]
        finally:
            cursor.close()

    def part_files(
        self, sql: str, context: QueryContext, target: Sequence[str], table: Table
    ) -> tuple[str, ...]:
        """The files of ``sql``'s one table that may hold rows of its result (see
        ``_matching_files``)."""
        cursor, reads, _analysis = self._checked_cursor(sql, context)
        try:
            with _reading(target):
                every = table.loaded.files
                tree, readable = self._part_shape(cursor, sql, reads)
                if tree is None or readable != table_key(*target):
                    return every
                try:
                    return self._matching_files(cursor, tree, tuple(target), table)
                except _UNDECIDED:
                    return every
        finally:
            cursor.close()

    def _pruned(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, reads: Sequence[TableKey]
    ) -> str:
        """``sql`` over only the files of its one table that may hold rows of its result,
        when those are at most half of them; else ``sql`` itself.

        Tables of few files, queries that may not run in parts (``partitioning``) and
        tables the table cache holds are left whole without further work. Pruning never
        fails a query: whatever it cannot decide, DuckDB reads every file for.

        A bare ``count(*)`` of the table is answered from the row counts the catalog read
        from the footers, which DuckDB would open every file to add up again (0.7 s for
        10,000 files). A bare ``LIMIT n`` (no WHERE or order) reads the first files that
        hold ``n`` rows: any ``n`` rows answer it, and a scan of every file of a table in
        many schema groups binds each file's schema first.
        """
        served = self._file_tables.get(reads[0]) if len(reads) == 1 else None
        if served is None or len(served.table.files) < _MIN_FILES_TO_PRUNE:
            return sql
        if self._table_cache and self._table_cache.holds(reads[0]):
            return sql  # its copy answers whole, faster than any files
        # Planning (GetFlightInfo) and running (DoGet) a statement ask alike: rewrite once
        # per text and published table. The entry holds its table, so a new publish (new
        # table objects) never meets an old rewrite, and ``id`` is not reused meanwhile.
        found = self._rewrites.get((sql, id(served)))
        if found is not None and found[0] is served:
            return found[1]
        with _reading(served.key):
            rewritten = self._rewritten(cursor, sql, reads, served)
        if len(sql) <= MAX_CACHED_SQL and len(rewritten) <= MAX_CACHED_SQL:
            self._rewrites.put((sql, id(served)), (served, rewritten))
        return rewritten

    def _rewritten(
        self,
        cursor: duckdb.DuckDBPyConnection,
        sql: str,
        reads: Sequence[TableKey],
        served: ServedTable,
    ) -> str:
        """``_pruned``'s answer for a table of enough files that no copy holds."""
        parsed = self._parsed(cursor, sql)
        names = partitioning.counted_names(parsed) if parsed is not None else None
        if names is not None:
            rows = served.table.loaded.rows
            counts = (f"CAST({rows} AS BIGINT) AS {quote_ident(name)}" for name in names)
            return f"SELECT {', '.join(counts)}"
        key, table = served.key, served.table
        limit = partitioning.limited_rows(parsed, self._not_row_wise) if parsed else None
        try:
            if limit is not None:  # any rows answer it: the first ones (``parsed`` is set)
                tree = parsed
                files = _first_files(table.loaded, limit)
            else:
                tree, _readable = self._part_shape(cursor, sql, reads)
                if tree is None or tree["node"].get("where_clause") is None:
                    return sql  # nothing to prune by (``table_plan``'s own query among them)
                files = self._matching_files(cursor, tree, key, table)
            if 2 * len(files) > len(table.files):
                return sql
            return self._bound_sql(
                cursor, tree, self._files_scan(key, served.dataset, table, files)
            )
        except _UNDECIDED:
            return sql

    def _matching_files(
        self,
        cursor: duckdb.DuckDBPyConnection,
        tree: partitioning.Tree,
        key: tuple[str, ...],
        table: Table,
    ) -> tuple[str, ...]:
        """The files (in the table's order) that the query's top-level AND terms do not
        rule out: by hive partition values, then by each file's min and max of the columns
        the catalog keeps bounds of (``file_matching``)."""
        columns = self._column_types(key)
        files = (
            file_matching.by_partition(cursor, tree, table, columns)
            if table.hive_partitioned
            else None
        )
        return file_matching.by_bounds(cursor, tree, table, columns, files)

    def _column_types(self, key: tuple[str, ...]) -> dict[str, tuple[str, str]]:
        """A published table's columns by folded name: each one's name and DuckDB type
        (from the table's cached plan: binding a view of many files costs milliseconds)."""
        plan = self.table_plan(*key)
        return {
            fold(name): (name, type_name)
            for name, type_name in zip(plan.schema.names, plan.type_names, strict=True)
        }

    def start_part(
        self,
        sql: str,
        context: QueryContext,
        target: Sequence[str],
        dataset: Dataset,
        table: Table,
        files: Collection[str],
    ) -> Execution:
        """Run ``sql`` (checked and authorised as ``start`` does) over some of its table's
        files: its one table bound to a scan of ``files`` with the table's exact types."""
        key = tuple(target)
        cursor, reads, _analysis = self._checked_cursor(sql, context)
        if self._table_cache:
            self._table_cache.touch(reads)  # reading parts is use, as running it whole is
        try:
            with _reading(key):
                part_sql = self._part_sql(cursor, sql, reads, key, dataset, table, files)
        except BaseException:
            cursor.close()
            raise
        execution = Execution(cursor, [(part_sql, None)], self._settings.batch_rows, _names([key]))
        return self._watch(sql, execution)

    def _part_sql(
        self,
        cursor: duckdb.DuckDBPyConnection,
        sql: str,
        reads: Sequence[TableKey],
        key: tuple[str, ...],
        dataset: Dataset,
        table: Table,
        files: Collection[str],
    ) -> str:
        """``sql`` with its one table replaced by a scan of ``files``."""
        tree, readable = self._part_shape(cursor, sql, reads)
        if tree is None or readable != table_key(*key):
            raise QueryError(ErrorKind.INVALID, "this query cannot run in parts")
        return self._bound_sql(cursor, tree, self._part_scan(key, dataset, table, files))

    def _bound_sql(
        self, cursor: duckdb.DuckDBPyConnection, tree: partitioning.Tree, scan: str
    ) -> str:
        """The query of ``tree`` with its one table replaced by ``scan``: bound to the
        placeholder table, written back by DuckDB, and the placeholder replaced by it.

        Items named by their text get their names as aliases first: DuckDB's rendering of
        an item is its name as written, but does not always parse back to it."""
        try:
            unnamed = partitioning.named_by_text(tree)
            if unnamed:
                rendered = cursor.execute(
                    "SELECT list_transform(?::VARCHAR[], lambda item: json_deserialize_sql(item))",
                    [[partitioning.item_alone(tree, index) for index in unnamed]],
                ).fetchall()[0][0]
                names = {
                    i: partitioning.item_name(text)
                    for i, text in zip(unnamed, rendered, strict=True)
                }
                tree = partitioning.with_aliases(tree, names)
            rows = cursor.execute(
                "SELECT json_deserialize_sql(?)",
                [partitioning.bound_to_part(tree, self._placeholder_tree)],
            ).fetchall()
            return partitioning.spliced(str(rows[0][0]), self._placeholder, scan)
        except duckdb.Error as exc:
            raise classify(exc) from None
        except ValueError as exc:
            message = f"a part's query could not be written: {exc}"
            raise QueryError(ErrorKind.INTERNAL, message) from None

    def _part_shape(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, reads: Sequence[TableKey]
    ) -> tuple[partitioning.Tree | None, TableKey | None]:
        """``sql``'s parse tree and its one file-backed table, if it may run in parts."""
        if len(reads) != 1 or reads[0] not in self._file_tables:
            return None, None
        tree = self._parsed(cursor, sql)
        if tree is None or partitioning.scanned_table(tree, self._not_row_wise) is None:
            return None, None
        return tree, reads[0]

    def _parsed(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> partitioning.Tree | None:
        """``sql``'s parse tree, kept per text unless very long: the guard's, seeded by
        ``_analysed``, or ``partitioning.parse``'s once that is evicted."""
        if len(sql) > MAX_CACHED_SQL:
            return partitioning.parse(cursor, sql)
        return self._part_trees.get_or_make(sql, lambda: partitioning.parse(cursor, sql))

    def _part_scan(
        self, key: tuple[str, ...], dataset: Dataset, table: Table, files: Collection[str]
    ) -> str:
        """``_files_scan`` of the files a ticket names, once they are known to be some of
        the published table's."""
        if key not in self._sources or not set(files) <= set(table.files) or not files:
            raise QueryError(ErrorKind.NOT_FOUND, f"table {'.'.join(key)} has changed")
        return self._files_scan(key, dataset, table, files)

    def _files_scan(
        self, key: tuple[str, ...], dataset: Dataset, table: Table, files: Collection[str]
    ) -> str:
        """A SELECT of some of a published table's files (maybe none) with exactly the
        table's columns and types (files lacking a column give NULLs for it).

        A table of one schema (and no partition columns) is scanned as its view is, over
        fewer files: the same columns and types by construction, and binding no projection
        (a projection of 200 columns binds in 10 ms, the bare scan in 2).

        Otherwise the columns come from the table's cached plan, as typed NULLs: naming the
        view here would bind its scan of every file again, for each query. Files of one
        schema group (of a table without partition columns) need no union: their columns
        are known, and the others are NULLs of the table's types.
        """
        loaded = table.loaded
        groups = {loaded.group_of[path] for path in files}
        one_group = len(groups) == 1 and not table.hive_partitioned and bool(loaded.group_columns)
        if one_group and len(loaded.groups) == 1:
            return self._view_sql(dataset, table, set(files))
        if one_group:
            projected = self._padded(key, table, loaded.group_columns[groups.pop()])
            return f"SELECT {projected} FROM ({self._view_sql(dataset, table, set(files))})"
        every = tuple(name for name, _type in self._column_types(key).values())
        scan = f"SELECT {self._padded(key, table, ())} LIMIT 0"
        if files:
            scan = f"({scan}) UNION ALL BY NAME ({self._view_sql(dataset, table, set(files))})"
        return f"SELECT {self._padded(key, table, every)} FROM ({scan})"

    def _padded(self, key: tuple[str, ...], table: Table, columns: tuple[str, ...]) -> str:
        """The projection giving a scan of these ``columns`` (a schema group's, all or
        none) the table's columns and types, NULLs for those it lacks; written once per
        published table and set of columns rather than for every new statement. An entry
        holds its table, as ``_rewrites`` do."""
        found = self._paddings.get((id(table), columns))
        if found is not None and found[0] is table:
            return found[1]
        present = {fold(name) for name in columns}
        projected = ", ".join(
            f"CAST({quote_ident(name) if fold(name) in present else 'NULL'} AS {type_name})"
            f" AS {quote_ident(name)}"
            for name, type_name in self._column_types(key).values()
        )
        self._paddings.put((id(table), columns), (table, projected))
        return projected

    def table_plan(self, catalog: str, schema: str, table: str) -> Plan:
        """A published table's schema and DuckDB type names (cached until the view changes)."""
        key = (catalog, schema, table)
        source = self._sources.get(key)
        if source is None:
            raise QueryError(ErrorKind.NOT_FOUND, f"table {'.'.join(key)} does not exist")
        cached = self._schema_cache.get(source.identity)
        if cached is None:
            cached = self.plan(f"SELECT * FROM {qualified(*key)}", QueryContext())
            self._schema_cache[source.identity] = cached
        return cached

    def _checked_cursor(
        self,
        sql: str,
        context: QueryContext,
        on_cursor: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> tuple[duckdb.DuckDBPyConnection, list[TableKey], Analysis]:
        """A fresh cursor, once ``sql`` is known to be one SELECT over readable datasets,
        the served tables it reads and the guard's analysis (``on_cursor`` sees the cursor
        before any work).

        The cursor has the call's defaults only when a name or a function such as
        ``current_schema()`` needs them: setting them is a statement of its own (0.2 ms),
        paid two or three times per query otherwise.
        """
        cursor = self._cursor()
        if on_cursor is not None:
            on_cursor(cursor)
        defaults = (context.default_catalog, context.default_schema)
        if len(sql) > MAX_CACHED_SQL:
            analysis = analyse(cursor, sql, *defaults, self._bounds)
            self._count_analysis(_PARSED)
        else:
            analysis = self._analyses.get_or_make(
                (sql, *defaults), lambda: self._analysed(cursor, sql, defaults)
            )
        access = self._access(context)
        authorise(analysis, access)
        if analysis.needs_defaults:
            self._use_defaults(cursor, context)
        reads = [key for t in analysis.tables for key in t.candidates if access.readable(key)]
        self._ensure_views(reads)
        return cursor, reads, analysis

    def _analysed(
        self,
        cursor: duckdb.DuckDBPyConnection,
        sql: str,
        defaults: tuple[str | None, str | None],
    ) -> Analysis:
        """The guard's analysis of a new text: the one of its shape if known; else made,
        and its parse tree kept as the text's (``_parsed``), so the results cache and the
        part analysis do not parse it again."""
        shape = shape_of(sql)
        known = self._shapes.get((shape, *defaults)) if shape is not None else None
        if known is not None:
            self._count_analysis(_BY_SHAPE)
            return known
        analysis = analyse(cursor, sql, *defaults, self._bounds)
        self._count_analysis(_PARSED)
        self._part_trees.put(sql, analysis.tree)
        kept = analysis.without_tree()
        if analysis.shape is not None:
            self._shapes.put((analysis.shape, *defaults), kept)
        return kept

    def _count_analysis(self, how: str) -> None:
        with self._counts_lock:
            self._analysis_counts[how] += 1

    def analysis_counts(self) -> dict[str, int]:
        """New texts the guard has passed, by how: parsed, or found by the shape of one
        parsed before (the same query with other values), for metrics."""
        with self._counts_lock:
            return dict(self._analysis_counts)

    def _use_defaults(self, cursor: duckdb.DuckDBPyConnection, context: QueryContext) -> None:
        """Make unqualified names on ``cursor`` resolve in the call's default catalog and
        schema (made first, if it is published and was not used yet)."""
        catalog, schema = context.default_catalog, context.default_schema
        if not catalog:
            return
        folded = (fold(catalog), fold(schema or ""))
        if schema and folded in self._published[1] and folded not in self._made_schemas:
            with self._lock:  # once per schema: every later call finds it made
                self._make_schema(catalog, schema)
        target = qualified(catalog, schema) if schema else quote_ident(catalog)
        try:
            cursor.execute(f"USE {target}")
        except duckdb.Error as exc:
            raise QueryError(ErrorKind.NOT_FOUND, f"default schema: {exc}") from None

    def _access(self, context: QueryContext) -> TableAccess:
        """The published views, and which of them the call's caller may read."""
        (served, owners), may_read = self._published, context.may_read

        def readable(key: TableKey) -> bool:
            return key in served and (may_read is None or may_read(*owners[key[:2]]))

        return TableAccess(
            served.__contains__, readable, lambda: (key for key in served if readable(key))
        )

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one request."""
        with self._lock:
            return self._db.cursor()


def _text_length(key: tuple[str | Shape, str | None, str | None], _analysis: Analysis) -> int:
    """What an analysis kept under its text or shape (and the call's defaults) weighs."""
    return len(key[0])


def _stats_of(store: ResultCache | None) -> ResultCacheStats:
    """What ``store`` holds and how lookups went; zeros for a store that is off."""
    return store.stats() if store is not None else ResultCacheStats(0, 0, 0, 0)


@contextmanager
def _reading(key: Sequence[str]) -> Iterator[None]:
    """Footers of table ``key`` that cannot be read fail the call as a failure of the table."""
    try:
        yield
    except UnreadableTable as exc:
        raise unreadable(exc, ".".join(key)) from None


def _table_source(dataset: Dataset, table: Table, reached: str | None) -> CacheSource:
    """A dataset table's source, named by how its files are reached (``Engine._reach``) and
    what they are, with its SELECT left to be written when needed."""
    identity = CacheSource.identify(
        reached or "", table.hive_partitioned, *table.files, *table.sizes
    )
    root = dataset.location.root
    return CacheSource(
        identity,
        sum(table.sizes),
        lambda: _scan_sql(table, reached, root),
        lambda: ParquetFiles(
            tuple(path for group in _scan_groups(table, reached, root) for path in group),
            table.loaded.rows,
        ),
    )


def _first_files(loaded: LoadedFiles, rows: int) -> tuple[str, ...]:
    """The files a table's view reads first, up to the first that brings ``rows`` rows
    (at least one file: a ``LIMIT 0`` still binds a scan)."""
    chosen: list[str] = []
    held = 0
    for file in loaded.data_files:
        chosen.append(file.path)
        held += file.rows
        if held >= rows:
            break
    return tuple(chosen)


def _scan_sql(
    table: Table, prefix: str | None, root: str, files: Collection[str] | None = None
) -> str:
    """The SELECT over a table's files (``files`` only, when given) in its schema groups.

    ``prefix`` is the router's for the dataset (``_reach``), taken when the snapshot was
    published: a SELECT written later must not route the dataset again, since its
    filesystem may have been replaced since.
    """
    return grouped_scan(_scan_groups(table, prefix, root, files), table.hive_partitioned)


def _scan_groups(
    table: Table, prefix: str | None, root: str, files: Collection[str] | None = None
) -> tuple[tuple[str, ...], ...]:
    """The paths ``_scan_sql`` reads, as DuckDB reaches them, in their schema groups."""
    chosen = tuple(
        tuple(path for path in group if files is None or path in files)
        for group in table.loaded.file_groups
    )
    chosen = tuple(group for group in chosen if group)
    if prefix is not None:
        start = len(root.rstrip("/")) + 1
        chosen = tuple(tuple(prefix + path[start:] for path in group) for group in chosen)
    return chosen


def _arrow_schema(
    cursor: duckdb.DuckDBPyConnection,
    signature: tuple[tuple[str, str], ...],
    sql: str,
    values: Sequence[object],
) -> pa.Schema:
    """The Arrow schema DuckDB gives columns of these names and types, read from no table.

    Selecting typed NULLs avoids starting the query's scans (a ``LIMIT 0`` of the query
    itself opens its files). If a type name does not read back as the same type, the
    query's own ``LIMIT 0`` answers instead, so the schema is always DuckDB's own.
    """
    columns = ", ".join(
        f"CAST(NULL AS {type_name}) AS {quote_ident(name)}" for name, type_name in signature
    )
    try:
        typed_nulls = cursor.sql(f"SELECT {columns} LIMIT 0")
        if tuple(zip(typed_nulls.columns, map(str, typed_nulls.types), strict=True)) == signature:
            return without_dictionaries(typed_nulls.to_arrow_table().schema)
    except duckdb.Error:
        pass
    query = cursor.sql(sql, params=list(values) or None)
    return without_dictionaries(query.limit(0).to_arrow_table().schema)


def _names(keys: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Tables as a storage error names them: qualified, each once, in query order."""
    return tuple(dict.fromkeys(".".join(key) for key in keys))


def _by_folded_name(
    identities: dict[tuple[str, str, str], str], folded: Mapping[tuple[str, str, str], TableKey]
) -> dict[TableKey, str]:
    """Identities by folded name (``folded`` of each key); views whose names fold alike
    share one of them all."""
    by_name: dict[TableKey, list[str]] = {}
    for key, identity in identities.items():
        by_name.setdefault(folded[key], []).append(identity)
    return {key: "\0".join(sorted(found)) for key, found in by_name.items()}


def _owners(snapshot: Snapshot) -> dict[tuple[str, str], _Owner]:
    """Each served schema, folded, with the dataset it shows (and a federated one's centres).

    Looked up, never cut out of the schema name: a Flywheel label may itself contain ``@``.
    """
    owners: dict[tuple[str, str], _Owner] = {
        (fold(d.catalog), fold(schema)): (d.catalog, d.name, d.project_id, ())
        for d, schema, _version in snapshot.dataset_schemas()
    }
    for s in snapshot.derived:
        centres = tuple((d.catalog, d.name, d.project_id) for d in s.sources.values())
        owners[(fold(s.catalog), fold(s.name))] = (s.catalog, s.name, None, centres)
    return owners


def _directory(path: str) -> str:
    """An absolute directory with one trailing slash, as ``allowed_directories`` compares."""
    return os.path.abspath(path).rstrip("/") + "/"
