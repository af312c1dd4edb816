"""11. A research group's dataset (2.8 GB of parquet, most of it one tabular-data table),
served from a cold start with the Helm chart's engine settings (1 GiB for DuckDB, 2
threads): the defaults (parquet only) against the table cache at the chart's 4 GiB
budget and at a budget smaller than the data. The figures behind the defaults
(docs/performance.md, "Defaults, from a research group's dataset"); the chart's cache must be
no slower than the defaults over these queries.

Each server starts cold and runs every query once (a first run: the table cache queues the
tables it reads), then lookups back to back until the table cache has copied them (their
latency while the copies run, and how long those take), then every query in turns, best of
N. Lookups are a new SQL text every run, as an application's are; no results cache.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb

from benchmarks import services
from benchmarks.data import research_group
from benchmarks.harness import Section, geometric_mean, interleaved_best
from tests.service_support import scrape

NAMES = {name: f"local.fw.{name}" for name in ("subjects", "sessions", "files", "physio")}
QUERIES = {
    "lookup: one session's files": (
        "SELECT id, name, size FROM {files} WHERE \"parents.session\" = '{session}' AND {n} = {n}"
    ),
    "lookup: one session's recordings": (
        "SELECT sample, t, heart_rate FROM {physio} WHERE \"parents.session\" = '{session}' "
        "AND {n} = {n}"
    ),
    "aggregate: one subject's recordings": (
        'SELECT "parents.session" AS session, avg(heart_rate) AS hr, min(spo2) AS spo2 '
        "FROM {physio} WHERE \"parents.subject\" = '{subject}' AND {n} = {n} "
        "GROUP BY 1 ORDER BY 1"
    ),
    "aggregate: all recordings by sex": (
        "SELECT s.sex, count(*) AS n, avg(p.heart_rate) AS hr FROM {physio} p "
        'JOIN {subjects} s ON p."parents.subject" = s.id WHERE {n} = {n} GROUP BY 1 ORDER BY 1'
    ),
    "aggregate: files by type": (
        "SELECT type, modality, count(*) AS n, sum(size) AS bytes FROM {files} "
        "WHERE {n} = {n} GROUP BY 1, 2 ORDER BY 1, 2"
    ),
}
LOOKUPS = ("lookup: one session's files", "lookup: one session's recordings")
#: The chart's engine settings (helm/fw-flight-sql/values.yaml).
HELM_ENGINE = {"memory_limit": "1GiB", "threads": "2"}
HELM = "cache 4GiB (Helm)"
CONFIGS = {"defaults": None, HELM: "4GiB", "cache 1GiB": "1GiB"}
#: How long the copies may take before the benchmark gives up waiting.
SETTLE_SECONDS = 900


def run(subjects: int, repeat: int) -> Section:
    tables = research_group(subjects)
    keys = _keys(tables["sessions"].files)
    section = Section(
        f"11. A research group's dataset from a cold start, Helm's engine settings "
        f"({subjects:,} subjects, {_rows(tables['physio'].files):,} recording rows, "
        f"{_gigabytes(tables['sessions'].root):.1f} GB of parquet; best of {repeat}, ms)"
    )
    warm: dict[str, dict[str, float]] = {}
    for config, cache_bytes in CONFIGS.items():
        numbers = itertools.count()
        started = time.perf_counter()
        with services.fw_server(
            {"fw": tables["sessions"].root}, cache_bytes, engine=HELM_ENGINE
        ) as server:
            section.figures[f"{config}: start-up to ready, s"] = round(
                time.perf_counter() - started, 2
            )
            with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
                runs = {label: _runner(cur, sql, keys, numbers) for label, sql in QUERIES.items()}
                first = {label: _seconds(one) for label, one in runs.items()}
                section.figures[f"{config}: first runs, ms"] = _listed(first)
                if cache_bytes:
                    _while_copying(section, config, server, runs)
                best, _ = interleaved_best(runs, repeat)
                warm[config] = best
                section.figures[f"{config}: warm, ms"] = _listed(best)
            section.figures[f"{config}: server peak RSS, MiB"] = round(
                services.peak_rss_bytes(server.pid) / 2**20
            )
    base = warm["defaults"]
    for config in CONFIGS:
        if config == "defaults":
            continue
        ratios = {label: base[label] / warm[config][label] for label in QUERIES}
        section.figures[f"{config}: warm speed-up over defaults, per query"] = " / ".join(
            f"{ratio:.2f}" for ratio in ratios.values()
        )
        speed_up = geometric_mean(ratios.values())
        section.figures[f"{config}: warm speed-up over defaults, geometric mean"] = round(
            speed_up, 2
        )
        if config == HELM:
            section.at_least(
                "group: Helm's table cache, warm speed-up over defaults", speed_up, 1.0
            )
    section.figures["queries, in the order above"] = " / ".join(QUERIES)
    return section


def _while_copying(
    section: Section, config: str, server: services.FwServer, runs: dict[str, Callable[[], int]]
) -> None:
    """Lookups back to back until every queued copy is made: their median latency, how long
    the copies took from the first runs, and the cache's size once they are made."""
    started = time.perf_counter()
    cpu = services.cpu_seconds(server.pid)
    latencies: dict[str, list[float]] = {label: [] for label in LOOKUPS}
    for label in itertools.cycle(LOOKUPS):
        if not scrape(server.ops_port)["fw_flight_sql_table_cache_pending"]:
            break
        if time.perf_counter() - started > SETTLE_SECONDS:
            raise TimeoutError(f"{config}: the table cache did not settle")
        latencies[label].append(_seconds(runs[label]))
    section.figures[f"{config}: copies made after, s (server CPU, s)"] = (
        f"{time.perf_counter() - started:.1f} ({services.cpu_seconds(server.pid) - cpu:.1f})"
    )
    section.figures[f"{config}: lookups while copying, median ms"] = " / ".join(
        f"{statistics.median(values) * 1e3:.1f}" if values else "-" for values in latencies.values()
    )
    metrics = scrape(server.ops_port)
    section.figures[f"{config}: copies / indexes / MiB held"] = (
        f"{metrics['fw_flight_sql_table_cache_tables']:.0f} / "
        f"{metrics['fw_flight_sql_table_cache_indexes']:.0f} / "
        f"{metrics['fw_flight_sql_table_cache_bytes'] / 2**20:.0f}"
    )


def _runner(
    cur: flight_sql.Cursor, sql: str, keys: Iterator[tuple[str, str]], numbers: itertools.count
) -> Callable[[], int]:
    """One run of ``sql``: a new text each time, for the next session and its subject."""

    def one() -> int:
        session, subject = next(keys)
        cur.execute(sql.format(session=session, subject=subject, n=next(numbers), **NAMES))
        return cur.fetch_arrow_table().num_rows

    return one


def _seconds(one: Callable[[], object]) -> float:
    start = time.perf_counter()
    one()
    return time.perf_counter() - start


def _listed(times: dict[str, float]) -> str:
    return " / ".join(f"{seconds * 1e3:.1f}" for seconds in times.values())


def _keys(sessions: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Sessions with their subjects, spread over the table, round and round."""
    rows = duckdb.sql(
        'SELECT id, "parents.subject" FROM read_parquet(?) USING SAMPLE 500 ROWS '
        "(reservoir, 7) ORDER BY id",
        params=[list(sessions)],
    ).fetchall()
    return itertools.cycle(rows)


def _rows(files: tuple[str, ...]) -> int:
    rows = duckdb.sql("SELECT count(*) FROM read_parquet(?)", params=[list(files)]).fetchall()
    return rows[0][0]


def _gigabytes(root: str) -> float:
    return sum(path.stat().st_size for path in Path(root).rglob("*.parquet")) / 1e9
