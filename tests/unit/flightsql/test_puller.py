"""The pull pool on real DuckDB cursors: a query's batches in order, its errors where the
client sees them, its slot freed at the end, and no stream left waiting on a stopped pool;
and results held in memory, streamed on the caller's thread within the same limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager

import duckdb
import pyarrow as pa
import pytest

from flight_server.engine import ErrorKind, Execution, QueryError
from flight_server.engine.result_cache import CachedResult
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
    # One DuckDB thread makes batches in order: with more, a thread working ahead can meet
    # a later row's error before the first batch is out.
    connection = duckdb.connect(config={"threads": 1})
    execution = Execution(connection.cursor(), [(sql, None)], batch_rows)
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


@contextmanager
def _worker_held(puller: Puller, slots: QuerySlots) -> Iterator[None]:
    """The pool's one worker busy until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold_the_worker() -> None:
        taken.set()
        release.wait()

    blocker = threading.Thread(
        target=puller.call, args=(CALL, _query(slots, "SELECT 1"), hold_the_worker)
    )
    blocker.start()
    try:
        assert taken.wait(5)
        yield
    finally:
        release.set()
        blocker.join(5)


def test_a_stream_the_pool_drops_unrun_fails_at_once() -> None:
    puller = Puller(1)
    slots = QuerySlots(2, 0.05, per_caller=2)
    outcome: list[BaseException | None] = []

    def open_stream() -> None:
        try:
            puller.stream(CALL, _query(slots, "SELECT 2"))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with _worker_held(puller, slots):
        waiter = threading.Thread(target=open_stream, daemon=True)
        waiter.start()
        waiter.join(0.3)  # its task is queued behind the blocker
        assert waiter.is_alive()
        puller.shutdown()  # drops the queued task
        waiter.join(5)
        assert not waiter.is_alive(), "the stream still waits for a task that will never run"
        assert isinstance(outcome[0], CancelledError)


class _LeftCall:
    """A call whose client has gone."""

    def is_cancelled(self) -> bool:
        return True


def _replay(slots: QuerySlots, deadline: float | None = None) -> Query:
    table = pa.table({"v": list(range(10))})
    result = CachedResult(table.schema, tuple(table.to_batches(max_chunksize=3)), table.nbytes)
    return Query(slots.acquire("analyst"), deadline, Execution.replaying(result))


def test_a_result_held_in_memory_streams_without_the_pool() -> None:
    puller = Puller(1)
    slots = QuerySlots(2, 0.05, per_caller=2)
    try:
        with _worker_held(puller, slots):  # only the caller's thread is left
            # Were it queued behind the held worker, its deadline would stop it.
            schema, batches = puller.stream(CALL, _replay(slots, deadline=time.monotonic() + 3))
            assert schema.names == ["v"]
            assert [len(batch) for batch in batches] == [3, 3, 3, 1]
    finally:
        puller.shutdown()


def test_a_result_held_in_memory_still_stops_at_its_deadline_and_on_cancel(puller) -> None:
    slots = QuerySlots(2, 0.05, per_caller=2)
    _schema, late = puller.stream(CALL, _replay(slots, deadline=time.monotonic() - 1))
    with pytest.raises(QueryError) as caught:
        next(late)
    assert caught.value.kind is ErrorKind.TIMEOUT
    _schema, left = puller.stream(_LeftCall(), _replay(slots))
    with pytest.raises(QueryError) as caught:
        next(left)
    assert caught.value.kind is ErrorKind.CANCELLED
