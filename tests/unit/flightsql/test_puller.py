"""The pull pool on real DuckDB cursors: a query's batches in order, its errors where the
client sees them, its slot freed at the end, and no stream left waiting on a stopped pool."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import duckdb
import pyarrow as pa
import pytest

from flight_server.engine import Execution, QueryError
from flight_server.flightsql.cancellation import Puller, Query
from flight_server.flightsql.limits import QuerySlots


class _OpenCall:
    """Stands in for pyarrow's call context (which only gRPC makes): a client still there."""

    def is_cancelled(self) -> bool:
        return False


CALL = _OpenCall()


@pytest.fixture
def puller() -> Puller:
    pool = Puller(2)
    yield pool
    pool.shutdown()


def _query(slots: QuerySlots, sql: str, batch_rows: int = 1024) -> Query:
    execution = Execution(duckdb.connect().cursor(), [(sql, None)], batch_rows)
    return Query(slots.acquire("analyst"), None, execution)


def test_batches_arrive_in_order_and_the_slot_frees_when_the_query_closes(puller) -> None:
    slots = QuerySlots(1, 0.05)
    query = _query(slots, "SELECT range AS v FROM range(10000)")
    schema, batches = puller.stream(CALL, query)
    pulled = list(batches)
    assert schema.names == ["v"]
    assert len(pulled) > 2  # past the first pull and the one read ahead with it
    assert pa.Table.from_batches(pulled).column("v").to_pylist() == list(range(10000))
    with pytest.raises(QueryError, match="server busy"):
        slots.acquire("other")
    query.close()
    slots.acquire("other").release()


def test_a_result_of_one_batch_ends_after_it(puller) -> None:
    _schema, batches = puller.stream(CALL, _query(QuerySlots(1, 0.05), "SELECT 42 AS answer"))
    assert [batch.to_pylist() for batch in batches] == [[{"answer": 42}]]


def test_an_error_before_the_first_batch_is_raised_by_opening(puller) -> None:
    with pytest.raises(QueryError, match="boom"):
        puller.stream(CALL, _query(QuerySlots(1, 0.05), "SELECT error('boom') AS x"))


def test_an_error_in_a_later_batch_is_raised_when_the_stream_reaches_it(puller) -> None:
    sql = (
        "SELECT CASE WHEN range < 500000 THEN range ELSE error('late') END AS v FROM range(1000000)"
    )
    _schema, batches = puller.stream(CALL, _query(QuerySlots(1, 0.05), sql))
    seen = []
    with pytest.raises(QueryError, match="late"):
        for batch in batches:
            seen.extend(batch.column("v").to_pylist())
    assert seen and seen == list(range(len(seen)))


def test_a_stream_the_pool_drops_unrun_fails_at_once() -> None:
    puller = Puller(1)
    slots = QuerySlots(2, 0.05, per_caller=2)
    taken, release = threading.Event(), threading.Event()

    def hold_the_worker() -> None:
        taken.set()
        release.wait()

    blocker = threading.Thread(
        target=puller.call, args=(CALL, _query(slots, "SELECT 1"), hold_the_worker)
    )
    blocker.start()
    assert taken.wait(5)  # the pool's one worker is busy
    outcome: list[BaseException | None] = []

    def open_stream() -> None:
        try:
            puller.stream(CALL, _query(slots, "SELECT 2"))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=open_stream, daemon=True)
    waiter.start()
    try:
        waiter.join(0.3)  # its task is queued behind the blocker
        assert waiter.is_alive()
        puller.shutdown()  # drops the queued task
        waiter.join(5)
        assert not waiter.is_alive(), "the stream still waits for a task that will never run"
        assert isinstance(outcome[0], CancelledError)
    finally:
        release.set()
        blocker.join(5)
