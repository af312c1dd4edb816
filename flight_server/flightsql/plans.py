"""Recent statement plans, so a statement is planned once rather than once per RPC.

An ADBC or JDBC client runs a new statement as CreatePreparedStatement, GetFlightInfo
and DoGet, and reruns a statement as GetFlightInfo and DoGet; each plan binds the query
in DuckDB (several milliseconds), which dominated small-query latency. Plans are kept
per caller (its name and its grant: two identities of one name may see different
datasets) and catalog snapshot, briefly: DoGet still checks access when it runs.

An application looking records up sends a new text per value; where the values only
choose rows (constants in WHERE clauses, ``Analysis.columns_follow_shape``), every such text
has the same columns, types and tables, so a text of a known shape takes that plan without
a bind (about 1 ms of CPU, and a hand-off to the query pool).

Binding is work like running: a huge statement can take seconds and hundreds of
megabytes to plan. So a plan the cache lacks is made through the caller's ``run``, which
the server gives a query slot, the time limit and call cancellation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from flight_server.auth import Caller
from flight_server.engine import Plan, QueryContext
from flight_server.engine.duckdb_engine import MAX_CACHED_COLUMNS, MAX_CACHED_SQL
from flight_server.engine.guard import Shape, shape_of
from flight_server.flightsql.backend import QueryEngine
from flight_server.lru import LruCache

_Key = tuple[str, str | None, str | None, Caller, str]
_ShapeKey = tuple[Shape, str | None, str | None, Caller]
#: Hands the cursor a plan is made on to whoever may need to interrupt it.
CursorWatch = Callable[[duckdb.DuckDBPyConnection], None]
#: Runs a planning step the way the server runs a query's steps, giving it a cursor watch.
Runner = Callable[[Callable[[CursorWatch], Plan]], Plan]


class PlanCache:
    """``Engine.plan`` behind a bounded, expiring cache keyed by statement, caller and grant
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
        # Each plan is kept with the snapshot it was made against, by its text and, when it
        # holds for every text of its shape (``Plan.shape``), by that shape too.
        self._plans: LruCache[_Key, tuple[object, Plan]] = LruCache(
            max_plans, ttl_seconds, max_weight=MAX_CACHED_COLUMNS, weight=_columns
        )
        self._by_shape: LruCache[_ShapeKey, tuple[object, Plan]] = LruCache(
            max_plans, ttl_seconds, max_weight=MAX_CACHED_COLUMNS, weight=_columns
        )

    def plan(
        self,
        sql: str,
        context: QueryContext,
        parameters: Sequence[object] | None,
        caller: Caller,
        run: Runner,
    ) -> Plan:
        """The plan of ``sql`` for ``caller``, made by ``run`` unless cached while the
        published views stay the same."""
        defaults = (context.default_catalog, context.default_schema)
        key = (sql, *defaults, caller, repr(parameters))
        snapshot = self._snapshot()
        hit = self._plans.get(key)
        if hit is not None and hit[0] is snapshot:
            return hit[1]
        if len(sql) > MAX_CACHED_SQL:
            return run(lambda watch: self._engine.plan(sql, context, parameters, watch))
        # A lookup by a new value: the plan of a text of its shape, with no bind at all.
        shape = shape_of(sql) if parameters is None else None
        same = self._by_shape.get((shape, *defaults, caller)) if shape is not None else None
        if same is not None and same[0] is snapshot:
            self._plans.put(key, same)  # GetFlightInfo asks again by the text
            return same[1]
        plan = run(lambda watch: self._engine.plan(sql, context, parameters, watch))
        self._plans.put(key, (snapshot, plan))
        if plan.shape is not None:
            self._by_shape.put((plan.shape, *defaults, caller), (snapshot, plan))
        return plan


def _columns(_key: object, entry: tuple[object, Plan]) -> int:
    """What a kept plan weighs: its result's columns (each an Arrow field and a type name)."""
    return len(entry[1].type_names)
