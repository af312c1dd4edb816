"""The query pool and plan cache as settings size them (``limits.query_threads``,
``limits.plan_cache_*``), through the real ADBC driver."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql

from flight_server.config import Settings
from tests.support import running_server

QUERY = "SELECT range AS n FROM range(300000)"


def test_one_query_thread_serves_streams_read_side_by_side() -> None:
    """A pull holds the thread only while DuckDB makes one batch, so two streams open at
    once share it; a one-entry plan cache still plans every statement right."""
    settings = Settings(
        limits={"query_threads": 1, "plan_cache_entries": 1, "plan_cache_seconds": 0.001},
        engine={"batch_rows": 1024},
        auth={"anonymous": True},
    )
    with (
        running_server(settings) as uri,
        flight_sql.connect(uri) as conn,
        conn.cursor() as first,
        conn.cursor() as second,
    ):
        first.execute(QUERY)
        second.execute(f"{QUERY} WHERE n % 2 = 0")
        a, b = first.fetch_record_batch(), second.fetch_record_batch()
        rows = {"first": 0, "second": 0}
        for name, reader in (("first", a), ("second", b)) * 2:
            rows[name] += reader.read_next_batch().num_rows
        rows["first"] += a.read_all().num_rows
        rows["second"] += b.read_all().num_rows
    assert rows == {"first": 300_000, "second": 150_000}
