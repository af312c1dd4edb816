"""Batches of wide rows are split to fit in one Flight message (16 MiB for most clients)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from flight_server.engine.execution import Execution

_CLIENT_LIMIT = 16 * 1024 * 1024


def test_wide_batches_are_split_below_the_client_message_limit() -> None:
    sql = "SELECT i, repeat('x', 2000) AS text FROM range(20000) t(i) ORDER BY i"
    execution = Execution(duckdb.connect(), [(sql, None)], batch_rows=20_000)
    batches = []
    while (batch := execution.next_batch()) is not None:
        batches.append(batch)
    execution.close()
    assert len(batches) > 1
    assert all(batch.nbytes < _CLIENT_LIMIT for batch in batches)
    ids = pa.Table.from_batches(batches).column("i").to_pylist()
    assert ids == list(range(20_000))
