"""9. Where a new statement's server CPU goes, RPC by RPC: ours (table cache on) against the
bare Python Flight SQL server that answers from memory (``bareflightsql``).

A pyarrow.flight client sends what ADBC sends for each new statement, one kind of RPC at a
time over many statements (CreatePreparedStatement for all, then GetFlightInfo for all,
then DoGet, then ClosePreparedStatement), so each kind's server CPU (/proc, all threads) is
read on its own. The bare server's figures are what pyarrow.flight itself costs; the rest of
ours is planning, running and our own code.

Then each RPC's wall time for a statement the results cache answers (a dashboard's refresh),
the four sent in ADBC's order for two such texts in turns, against the bare server: what
our own code adds to a round trip when DuckDB does no work at all; beside it, the bare server
reading each call's authorization header in a middleware (what authentication alone costs).
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterable

import pyarrow.flight as flight

from benchmarks import services
from benchmarks.analytic import FW_NAMES
from benchmarks.data import flywheel_tables
from benchmarks.harness import Section
from benchmarks.small import SQL, load, session_ids
from flight_server.config import DEFAULT_RESULT_CACHE_BYTES
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb

#: Statements per round; /proc counts 10 ms ticks.
STATEMENTS = 300
ROUNDS = 3
KINDS = ("CreatePreparedStatement", "GetFlightInfo", "DoGet", "ClosePreparedStatement")
#: Replayed statements timed, after as many to warm up.
REPLAYS = 1000


def run(subjects: int) -> Section:
    tables = flywheel_tables(subjects)
    ids = session_ids(tables["sessions"].files)
    section = Section(
        f"9. Per RPC, ours / bare Flight SQL: server CPU of a new statement, ms (median of "
        f"{ROUNDS} rounds of {STATEMENTS}; ours with the table cache), and wall time of a "
        f"replayed one, ms (median of {REPLAYS}; ours with the results cache)"
    )
    numbers = itertools.count()
    with services.fw_server({"fw": tables["sessions"].root}, services.CACHE_BYTES) as server:
        load(server.uri, FW_NAMES, ids, 1, 1.0)  # the files table is queued for the cache
        server.settle_cache()
        ours = _per_rpc(server.uri, server.pid, ids, numbers)
    replayed = [SQL.format(session=session, n=0, **FW_NAMES) for session in ids[:2]]
    with services.fw_server(
        {"fw": tables["sessions"].root}, result_cache_bytes=str(DEFAULT_RESULT_CACHE_BYTES)
    ) as server:
        ours_replayed = _replayed(server.uri, replayed)
    with services.bare_flight_sql() as bare_server:
        bare = _per_rpc(bare_server.uri, bare_server.pid, ids, numbers)
        bare_replayed = _replayed(bare_server.uri, replayed)
    with services.bare_flight_sql(middleware=True) as checking_server:
        checking_replayed = _replayed(checking_server.uri, replayed)
    for kind in (*KINDS, "all four"):
        section.figures[kind] = f"{ours[kind]:.2f} / {bare[kind]:.2f}"
    for kind in (*KINDS, "all four"):
        section.figures[f"replayed, wall: {kind} (ours / bare / bare with middleware)"] = (
            f"{ours_replayed[kind]:.3f} / {bare_replayed[kind]:.3f} / {checking_replayed[kind]:.3f}"
        )
    return section


def _per_rpc(uri: str, pid: int, ids: list[str], numbers: Iterable[int]) -> dict[str, float]:
    client = flight.connect(uri)
    rounds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for _ in range(ROUNDS + 1):  # the first round warms up
            texts = [
                SQL.format(session=session, n=n, **FW_NAMES)
                for session, n in zip(itertools.cycle(ids), itertools.islice(numbers, STATEMENTS))
            ]
            handles = _timed(
                rounds, "CreatePreparedStatement", pid, texts, lambda q: _create(client, q)
            )
            tickets = _timed(rounds, "GetFlightInfo", pid, handles, lambda h: _ticket(client, h))
            _timed(rounds, "DoGet", pid, tickets, lambda t: client.do_get(t).read_all())
            _timed(rounds, "ClosePreparedStatement", pid, handles, lambda h: _close(client, h))
    finally:
        client.close()
    medians = {kind: sorted(values[1:])[len(values[1:]) // 2] for kind, values in rounds.items()}
    medians["all four"] = sum(medians.values())
    return medians


def _replayed(uri: str, texts: list[str]) -> dict[str, float]:
    """Median wall ms of each RPC of a statement sent as ADBC sends a new one, ``texts`` in
    turns (each answered from the results cache once it has run)."""
    client = flight.connect(uri)
    walls: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for number in range(2 * REPLAYS):
            started = time.perf_counter()
            handle = _create(client, texts[number % len(texts)])
            created = time.perf_counter()
            ticket = _ticket(client, handle)
            planned = time.perf_counter()
            client.do_get(ticket).read_all()
            read = time.perf_counter()
            _close(client, handle)
            closed = time.perf_counter()
            if number >= REPLAYS:  # the first half warms up
                steps = (started, created, planned, read, closed)
                for kind, begin, end in zip(KINDS, steps[:-1], steps[1:], strict=True):
                    walls[kind].append((end - begin) * 1e3)
    finally:
        client.close()
    medians = {kind: statistics.median(values) for kind, values in walls.items()}
    medians["all four"] = sum(medians.values())
    return medians


def _timed(
    rounds: dict[str, list[float]], kind: str, pid: int, items: list, call: Callable
) -> list:
    started = services.cpu_seconds(pid)
    results = [call(item) for item in items]
    rounds[kind].append((services.cpu_seconds(pid) - started) / len(items) * 1e3)
    return results


def _create(client: flight.FlightClient, query: str) -> bytes:
    body = commands.pack(pb.ActionCreatePreparedStatementRequest(query=query))
    (reply,) = client.do_action(flight.Action("CreatePreparedStatement", body))
    return commands.unpack(reply.body.to_pybytes()).prepared_statement_handle


def _ticket(client: flight.FlightClient, handle: bytes) -> flight.Ticket:
    command = pb.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    descriptor = flight.FlightDescriptor.for_command(commands.pack(command))
    return client.get_flight_info(descriptor).endpoints[0].ticket


def _close(client: flight.FlightClient, handle: bytes) -> None:
    body = commands.pack(pb.ActionClosePreparedStatementRequest(prepared_statement_handle=handle))
    list(client.do_action(flight.Action("ClosePreparedStatement", body)))
