"""3. Small queries: a selective query returning a few rows, sequentially and from 8 clients.

Each query names a different session, so every execute is a new statement (ADBC prepares
it, then GetFlightInfo, then DoGet), as an application looking up one record would.
"""

from __future__ import annotations

import itertools
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb

from benchmarks import services
from benchmarks.analytic import FW_NAMES, PLAIN_NAMES
from benchmarks.data import flywheel_tables
from benchmarks.harness import Section, percentile

SQL = "SELECT id, name, size FROM {files} WHERE \"parents.session\" = '{session}'"
CLIENTS = 8


def session_ids(files: tuple[str, ...], count: int = 200) -> list[str]:
    listed = ", ".join(f"'{path}'" for path in files)
    rows = duckdb.sql(f"SELECT id FROM read_parquet([{listed}]) ORDER BY id LIMIT {count}")
    return [row[0] for row in rows.fetchall()]


def load(
    uri: str, names: dict[str, str], ids: list[str], clients: int, seconds: float
) -> tuple[list[float], int]:
    """Latencies of every query ``clients`` connections ran back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        mine = []
        with flight_sql.connect(uri) as conn, conn.cursor() as cur:
            for session in itertools.islice(itertools.cycle(ids), offset, None):
                start = time.perf_counter()
                if start > deadline:
                    break
                try:
                    cur.execute(SQL.format(session=session, **names))
                    cur.fetch_arrow_table()
                except Exception:
                    with lock:
                        errors += 1
                mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i * 17,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def measure(uri: str, names: dict[str, str], ids: list[str], seconds: float) -> dict[str, float]:
    load(uri, names, ids, 1, min(1.0, seconds))  # warm-up: connections, caches, JIT-free paths
    out = {}
    for clients in (1, CLIENTS):
        latencies, errors = load(uri, names, ids, clients, seconds)
        out[f"{clients} client p50 ms"] = percentile(latencies, 0.5) * 1e3
        out[f"{clients} client p99 ms"] = percentile(latencies, 0.99) * 1e3
        out[f"{clients} client qps"] = len(latencies) / seconds
        out[f"{clients} client errors"] = errors
    return out


def run(subjects: int, seconds: float) -> Section:
    tables = flywheel_tables(subjects)
    ids = session_ids(tables["sessions"].files)
    section = Section(f"3. Small queries: one session's files, {seconds:g} s per load")
    with services.fw_server({"fw": tables["sessions"].root}) as (uri, _pid):
        ours = measure(uri, FW_NAMES, ids, seconds)
    with services.roapi({name: t.files for name, t in tables.items()}) as uri:
        roapi = measure(uri, PLAIN_NAMES, ids, seconds)
    for key, value in ours.items():
        section.figures[f"server {key}"] = round(value, 2)
    for key, value in roapi.items():
        section.figures[f"ROAPI {key}"] = round(value, 2)
    many = f"{CLIENTS} client"
    section.at_least(
        f"small: server / ROAPI qps, {CLIENTS} clients",
        ours[f"{many} qps"] / roapi[f"{many} qps"],
        2.0,
    )
    for clients in ("1 client", many):
        section.at_most(
            f"small: server p99 / p50, {clients}",
            ours[f"{clients} p99 ms"] / ours[f"{clients} p50 ms"],
            4.0,
        )
    return section
