"""Recent statement plans, so a statement is planned once rather than once per RPC.

An ADBC or JDBC client runs a new statement as CreatePreparedStatement, GetFlightInfo
and DoGet, and reruns a statement as GetFlightInfo and DoGet; each plan binds the query
in DuckDB (several milliseconds), which dominated small-query latency. Plans are kept
per caller and catalog snapshot, briefly: DoGet still checks access when it runs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from flight_server.engine import Engine, Plan, QueryContext
from flight_server.engine.duckdb_engine import MAX_CACHED_SQL

_MAX_PLANS = 1024
# Short enough that a caller's changed permissions show in schemas soon.
_TTL_SECONDS = 30.0

_Key = tuple[str, str | None, str | None, str, str]


class PlanCache:
    """``Engine.plan`` behind a bounded, expiring cache keyed by statement and caller."""

    def __init__(
        self,
        engine: Engine,
        snapshot: Callable[[], object],
        max_plans: int = _MAX_PLANS,
        ttl_seconds: float = _TTL_SECONDS,
    ) -> None:
        self._engine = engine
        self._snapshot = snapshot
        self._max = max_plans
        self._ttl = ttl_seconds
        self._plans: OrderedDict[_Key, tuple[object, float, Plan]] = OrderedDict()
        self._lock = threading.Lock()

    def plan(
        self,
        sql: str,
        context: QueryContext,
        parameters: Sequence[object] | None,
        caller: str,
    ) -> Plan:
        """The plan of ``sql`` for ``caller``: cached while the published views stay the same."""
        key = (sql, context.default_catalog, context.default_schema, caller, repr(parameters))
        snapshot, now = self._snapshot(), time.monotonic()
        with self._lock:
            hit = self._plans.get(key)
            if hit is not None and hit[0] is snapshot and hit[1] > now:
                self._plans.move_to_end(key)
                return hit[2]
        plan = self._engine.plan(sql, context, parameters)
        if len(sql) > MAX_CACHED_SQL:
            return plan
        with self._lock:
            self._plans[key] = (snapshot, now + self._ttl, plan)
            self._plans.move_to_end(key)
            while len(self._plans) > self._max:
                self._plans.popitem(last=False)
        return plan
