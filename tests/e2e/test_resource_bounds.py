"""Resources bounded before and while work runs: planning in a query slot and time limit,
slots shared fairly between users, slots held until DuckDB has really stopped, and the
server process's memory ceiling."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pytest

from flight_server.config import AuthSettings, LimitsSettings, Settings, StaticTokenSettings
from tests.support import running_server, server_process

HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value
# Streams batches as fast as the client reads them, practically forever.
STREAMING = "SELECT * FROM range(100000000000)"
# One value DuckDB computes in a single call, seconds long, without looking at interrupts.
UNSTOPPABLE = "SELECT levenshtein(repeat('a', 40000), repeat('b', 40000)) AS d"
# The same work done by the optimizer while a statement with a parameter is prepared.
UNSTOPPABLE_PLAN = UNSTOPPABLE + ", ? AS p"
# A single string of 600 MB, which DuckDB's memory_limit does not count.
HUGE_STRING = "SELECT length(repeat('x', 600000000)) AS n"


def connect(uri: str, token: str | None = None) -> flight_sql.Connection:
    return flight_sql.connect(uri, db_kwargs={HEADER: f"Bearer {token}"} if token else None)


def answer(uri: str, token: str | None = None) -> int:
    with connect(uri, token) as conn, conn.cursor() as cur:
        cur.execute("SELECT 42")
        return cur.fetchone()[0]


def failure(uri: str, sql: str, parameters: tuple | None = None) -> adbc_driver_manager.Error:
    with (
        connect(uri) as conn,
        conn.cursor() as cur,
        pytest.raises(adbc_driver_manager.Error) as caught,
    ):
        cur.execute(sql, parameters)
        cur.fetchall()
    return caught.value


def answer_once_free(uri: str, token: str | None = None) -> int:
    """``SELECT 42`` retried while the server is busy or short of memory (up to a minute)."""
    for _ in range(600):
        try:
            return answer(uri, token)
        except adbc_driver_manager.Error as exc:
            if "server busy" not in str(exc) and "short of memory" not in str(exc):
                raise
            time.sleep(0.1)
    pytest.fail("the server never answered again")


@contextlib.contextmanager
def holding_a_slot(uri: str, token: str | None = None) -> Iterator[None]:
    """A stream that holds one query slot until the block ends."""
    with connect(uri, token) as conn, conn.cursor() as cur:
        cur.execute(STREAMING)
        cur.fetch_record_batch().read_next_batch()
        yield
        cur.adbc_cancel()


# -- planning -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_slot() -> Iterator[str]:
    """One query slot, no queue and a time limit shorter than ``UNSTOPPABLE`` takes."""
    limits = LimitsSettings(query_timeout_seconds=1, max_concurrent_queries=1, queue_seconds=0)
    with running_server(Settings(limits=limits)) as uri:
        yield uri


def test_planning_takes_a_query_slot() -> None:
    limits = LimitsSettings(max_concurrent_queries=1, queue_seconds=0)
    with running_server(Settings(limits=limits)) as uri:
        with (
            holding_a_slot(uri),
            connect(uri) as conn,
            conn.cursor() as cur,
            pytest.raises(adbc_driver_manager.Error, match="server busy"),
        ):
            cur.adbc_prepare("SELECT 42")
        assert answer_once_free(uri) == 42


def test_planning_stops_at_the_time_limit_and_keeps_its_slot_until_done(one_slot: str) -> None:
    error = failure(one_slot, UNSTOPPABLE_PLAN, (1,))
    assert error.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT, error
    # DuckDB is still folding the constant: the slot is not free yet.
    with pytest.raises(adbc_driver_manager.Error, match="server busy"):
        answer(one_slot)
    assert answer_once_free(one_slot) == 42


# -- a timed-out query keeps its slot until DuckDB has stopped ---------------------------------


def test_a_timed_out_query_keeps_its_slot_until_duckdb_stops(one_slot: str) -> None:
    error = failure(one_slot, UNSTOPPABLE)
    # The client hears of the time limit at once, not DuckDB's cursor being closed under it.
    assert error.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT, error
    assert "connection is busy" not in str(error)
    # The query is still inside DuckDB, so it still holds the only slot...
    with pytest.raises(adbc_driver_manager.Error, match="server busy"):
        answer(one_slot)
    # ...until it returns; then the next query runs normally.
    assert answer_once_free(one_slot) == 42


# -- fair slots -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_users() -> Iterator[str]:
    """Two query slots, so each user may hold one (the default per-user cap: half)."""
    auth = AuthSettings(
        tokens=[
            StaticTokenSettings(token="alice-token", user="alice", datasets=["*"]),
            StaticTokenSettings(token="bob-token", user="bob", datasets=["*"]),
        ]
    )
    limits = LimitsSettings(max_concurrent_queries=2, queue_seconds=10)
    with running_server(Settings(auth=auth, limits=limits)) as uri:
        yield uri


def test_one_user_cannot_take_every_slot(two_users: str) -> None:
    with holding_a_slot(two_users, "alice-token"):
        # Alice's second query waits for one of her own slots...
        waiting: dict[str, object] = {}
        thread = threading.Thread(
            target=lambda: waiting.update(answer=answer(two_users, "alice-token"))
        )
        thread.start()
        time.sleep(0.5)  # time for Alice's call to reach the server and queue
        # ...while Bob, arriving after her, gets the free one.
        assert answer(two_users, "bob-token") == 42
        assert thread.is_alive() and not waiting
    thread.join(30)
    assert waiting == {"answer": 42}


def test_a_user_at_their_cap_is_told_so() -> None:
    limits = LimitsSettings(max_concurrent_queries=4, max_queries_per_user=1, queue_seconds=0)
    with (
        running_server(Settings(limits=limits)) as uri,
        holding_a_slot(uri),
        pytest.raises(adbc_driver_manager.Error, match="the most one caller may"),
    ):
        answer(uri)


# -- the memory ceiling ---------------------------------------------------------------------

CEILING = 400 * 2**20


def test_the_memory_ceiling_stops_what_memory_limit_does_not_count() -> None:
    env = {
        "FW_FLIGHT_SQL_ENGINE__MEMORY_LIMIT": "256MB",
        "FW_FLIGHT_SQL_LIMITS__MAX_MEMORY_BYTES": str(CEILING),
    }
    with server_process(env=env) as (uri, process):
        error = failure(uri, HUGE_STRING)
        assert "short of memory" in str(error), error
        assert answer_once_free(uri) == 42
        peak = _status_bytes(process.pid, "VmHWM")
        print(f"server peak RSS {peak / 2**20:.0f} MB with a {CEILING / 2**20:.0f} MB ceiling")
        # One value DuckDB builds in one call is only stopped once built (about twice its
        # size, 1.2 GB here); the ceiling bounds everything else.
        assert peak < CEILING + 1.5 * 2**30


def _status_bytes(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} missing from /proc/{pid}/status")
