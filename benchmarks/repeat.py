"""8. Repeated queries (a dashboard's refresh): each query's first run against its repeats,
over ADBC, with the results cache at its default size.

A first run is a SQL text the server has not seen (a comment numbers it): planned, run and
recorded as a new query. A repeat is the same text again: access checked, then replayed from
the results cache. Both take turns, best of N; server CPU per query is read from /proc, and
what a hit costs inside the engine is timed in process.

Taking turns, each run is a new statement to ADBC (four RPCs: CreatePreparedStatement,
GetFlightInfo, DoGet, ClosePreparedStatement), as a dashboard's refresh of several queries
is. The bare Python Flight SQL server (``bareflightsql``) answers the same four RPCs from
memory in the same turns: the least any pyarrow.flight server's repeat can take here, so
``first / bare`` is the most a repeat could gain; and so does the bare server reading each
call's authorization header in a middleware, as any server that knows its callers must:
``first / bare with middleware`` is the most an authenticating server's repeat could gain.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import adbc_driver_flightsql.dbapi as flight_sql

from benchmarks import services
from benchmarks.analytic import FW_NAMES, QUERIES
from benchmarks.data import flywheel_tables
from benchmarks.harness import Section, interleaved_best
from benchmarks.small import session_ids
from flight_server.config import DEFAULT_RESULT_CACHE_BYTES, DatasetSettings, Settings
from flight_server.engine import Engine, QueryContext
from flight_server.runtime import Runtime

LOOKUP = "SELECT id, name, size FROM local.fw.files WHERE \"parents.session\" = '{session}'"
# Runs per kind whose server CPU is summed: /proc counts 10 ms ticks.
CPU_RUNS = 100
# Engine-only runs of a hit, timed in process.
ENGINE_RUNS = 2000
# Rounds in turns at the least: each run takes milliseconds, and the best of three of
# them moved by a fifth between runs of the benchmark.
MIN_ROUNDS = 20


def run(subjects: int, repeat: int) -> Section:
    tables = flywheel_tables(subjects)
    session = session_ids(tables["sessions"].files, 1)[0]
    queries = {
        "analytic (group by type, modality)": QUERIES["group by type, modality"].format(**FW_NAMES),
        "small lookup (one session's files)": LOOKUP.format(session=session),
    }
    section = Section(
        f"8. Repeated queries: first run vs repeat, {subjects:,} subjects "
        f"(best of {max(repeat, MIN_ROUNDS)}, in turns, ms)"
    )
    root = {"fw": tables["sessions"].root}
    numbers = itertools.count()
    with (
        services.fw_server(root, result_cache_bytes=str(DEFAULT_RESULT_CACHE_BYTES)) as server,
        flight_sql.connect(server.uri, autocommit=True) as conn,
        conn.cursor() as cur,
        services.bare_flight_sql() as bare_server,
        flight_sql.connect(bare_server.uri, autocommit=True) as bare_conn,
        bare_conn.cursor() as bare,
        services.bare_flight_sql(middleware=True) as checking_server,
        flight_sql.connect(checking_server.uri, autocommit=True) as checking_conn,
        checking_conn.cursor() as checking,
    ):
        for label, sql in queries.items():
            # A replayed SELECT 1 is the least any repeat of ours can take; the bare server's
            # answer, the least any pyarrow.flight server's can.
            runs = {
                "first": _first(cur, sql, numbers),
                "repeat": _adbc(cur, sql),
                "floor": _adbc(cur, "SELECT 1"),
            }
            # A new text every time, as ours get in turns: ADBC prepares each anew.
            turns = {
                **runs,
                "bare": _first(bare, sql, numbers),
                "bare with middleware": _first(checking, sql, numbers),
            }
            best, _ = interleaved_best(turns, max(repeat, MIN_ROUNDS))
            cpu = {name: _server_cpu_ms(server.pid, one) for name, one in runs.items()}
            section.figures[
                f"{label}: first / repeat / replayed SELECT 1 / bare / bare with middleware ms"
            ] = " / ".join(f"{best[name] * 1e3:.2f}" for name in turns)
            for floor in ("bare", "bare with middleware"):
                section.figures[f"{label}: first / {floor} server's round trip"] = round(
                    best["first"] / best[floor], 2
                )
            section.figures[f"{label}: server CPU ms per query, first / repeat / SELECT 1"] = (
                " / ".join(f"{cpu[name]:.2f}" for name in runs)
            )
            section.figures[f"{label}: server CPU, first / repeat"] = round(
                cpu["first"] / cpu["repeat"], 2
            )
            section.at_least(
                f"repeat: first / repeated run, {label}", best["first"] / best["repeat"], 5.0
            )
    for label, sql in queries.items():
        section.figures[f"{label}: engine cost of a hit, in process (µs)"] = round(
            _engine_hit_seconds(root, sql) * 1e6, 1
        )
    return section


def _first(cur: flight_sql.Cursor, sql: str, numbers: itertools.count) -> Callable[[], int]:
    """A run of ``sql`` under a SQL text never sent before."""
    return lambda: _adbc(cur, f"/* first run {next(numbers)} */ {sql}")()


def _adbc(cur: flight_sql.Cursor, sql: str) -> Callable[[], int]:
    def one() -> int:
        cur.execute(sql)
        return cur.fetch_arrow_table().num_rows

    return one


def _server_cpu_ms(pid: int, one: Callable[[], object]) -> float:
    """The server's CPU (all threads) per call of ``one``, over ``CPU_RUNS`` calls."""
    started = services.cpu_seconds(pid)
    for _ in range(CPU_RUNS):
        one()
    return (services.cpu_seconds(pid) - started) / CPU_RUNS * 1e3


def _engine_hit_seconds(root: dict[str, str], sql: str) -> float:
    """Mean time of ``Engine.start`` (access checks included) and reading the replay to its
    end, once cached, with the defaults the server gives a call."""
    datasets = [DatasetSettings(name=name, location=where) for name, where in root.items()]
    runtime = Runtime(Settings(datasets=datasets))
    runtime.refresh()
    try:
        engine, context = runtime.engine, runtime.default_context()
        _drain(engine, sql, context)  # recorded
        started = time.perf_counter()
        for _ in range(ENGINE_RUNS):
            _drain(engine, sql, context)
        elapsed = (time.perf_counter() - started) / ENGINE_RUNS
        assert engine.result_cache_stats().hits == ENGINE_RUNS, "every timed run was a hit"
        return elapsed
    finally:
        runtime.stop()


def _drain(engine: Engine, sql: str, context: QueryContext) -> None:
    execution = engine.start(sql, context)
    try:
        execution.open()
        while execution.next_batch() is not None:
            pass
    finally:
        execution.close()
