"""Recent statement plans, so a statement is planned once rather than once per RPC.

An ADBC or JDBC client runs a new statement as CreatePreparedStatement, GetFlightInfo
and DoGet, and reruns a statement as GetFlightInfo and DoGet; each plan binds the query
in DuckDB (several milliseconds), which dominated small-query latency. Plans are kept
per caller and catalog snapshot, briefly: DoGet still checks access when it runs.

Binding is work like running: a huge statement can take seconds and hundreds of
megabytes to plan. So a plan the cache lacks is made through the caller's ``run``, which
the server gives a query slot, the time limit and call cancellation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from flight_server.engine import Plan, QueryContext
from flight_server.engine.duckdb_engine import MAX_CACHED_COLUMNS, MAX_CACHED_SQL
from flight_server.flightsql.backend import QueryEngine
from flight_server.lru import LruCache

_Key = tuple[str, str | None, str | None, str, str]
#: Hands the cursor a plan is made on to whoever may need to interrupt it.
CursorWatch = Callable[[duckdb.DuckDBPyConnection], None]
#: Runs a planning step the way the server runs a query's steps, giving it a cursor watch.
Runner = Callable[[Callable[[CursorWatch], Plan]], Plan]


class PlanCache:
    """``Engine.plan`` behind a bounded, expiring cache keyed by statement and caller
    (sized by ``limits.plan_cache_entries`` and ``plan_cache_seconds``)."""

    def __init__(
        self,
        engine: QueryEngine,
        snapshot: Callable[[], object],
        max_plans: int,
        ttl_seconds: float,
    ) -> None:
        self._engine = engine
        self._snapshot = snapshot
        # Each plan is kept with the snapshot it was made against.
        self._plans: LruCache[_Key, tuple[object, Plan]] = LruCache(
            max_plans,
            ttl_seconds,
            max_weight=MAX_CACHED_COLUMNS,
            weight=lambda _key, entry: len(entry[1].type_names),
        )

    def plan(
        self,
        sql: str,
        context: QueryContext,
        parameters: Sequence[object] | None,
        caller: str,
        run: Runner,
    ) -> Plan:
        """The plan of ``sql`` for ``caller``, made by ``run`` unless cached while the
        published views stay the same."""
        key = (sql, context.default_catalog, context.default_schema, caller, repr(parameters))
        snapshot = self._snapshot()
        hit = self._plans.get(key)
        if hit is not None and hit[0] is snapshot:
            return hit[1]
        plan = run(lambda watch: self._engine.plan(sql, context, parameters, watch))
        if len(sql) <= MAX_CACHED_SQL:
            self._plans.put(key, (snapshot, plan))
        return plan
