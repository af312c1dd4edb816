"""Resource attacks of issue 12 (item 6): how much each grows a server with a memory ceiling.

    python -m benchmarks.attacks [--ceiling 1GiB]

Each attack runs against a fresh server (``engine.memory_limit`` 256MB, a 30 s time
limit, the ceiling on), so its growth is the peak RSS (VmHWM) above that server's idle
RSS. Figures are printed, not checked: what a value DuckDB builds in one call costs
depends on its size alone.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
from pydantic import ByteSize, TypeAdapter

from benchmarks import services
from benchmarks.harness import Section
from flight_server.config import ENV_PREFIX
from flight_server.messages import first_line
from tests.support import server_process

#: The default ceiling: four times the engine's memory_limit.
CEILING = "1GiB"


def union_all(branches: int) -> str:
    """A ``branches``-way UNION ALL of one-row SELECTs (19 bytes of SQL each)."""
    return " UNION ALL ".join(["SELECT 1"] * branches)


def query(sql: str) -> Callable[[str], str]:
    def run(uri: str) -> str:
        with flight_sql.connect(uri) as conn, conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()
        return "answered"

    return run


def plan_only(sql: str) -> Callable[[str], str]:
    def run(uri: str) -> str:
        with flight_sql.connect(uri) as conn, conn.cursor() as cur:
            cur.adbc_prepare(sql)
        return "planned"

    return run


def huge_actions(count: int, size: int) -> Callable[[str], str]:
    """``count`` concurrent DoAction calls, each with a ``size`` body (refused by size)."""

    def run(uri: str) -> str:
        outcomes: list[str] = []

        def send() -> None:
            body = b"\0" * size
            try:
                list(flight.connect(uri).do_action(flight.Action("CancelFlightInfo", body)))
                outcomes.append("accepted")
            except pa.ArrowException as exc:
                outcomes.append(first_line(exc))

        threads = [threading.Thread(target=send) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes[0] if len(set(outcomes)) == 1 else "; ".join(outcomes)

    return run


ATTACKS: dict[str, Callable[[str], str]] = {
    "length(repeat('x', 600000000))": query("SELECT length(repeat('x', 600000000))"),
    "printf('%600000000d', 1)": query("SELECT length(printf('%600000000d', 1))"),
    "10,000-way UNION ALL": query(f"SELECT count(*) FROM ({union_all(10_000)})"),
    "planning a 50,000-way UNION ALL": plan_only(union_all(50_000)),
    "4 x 100 MB DoAction bodies": huge_actions(4, 100_000_000),
}


def attack(run: Callable[[str], str], ceiling: str) -> tuple[int, int, str, bool]:
    """Idle RSS, peak RSS, how the attack ended, and whether the server answered after."""
    env = {
        f"{ENV_PREFIX}ENGINE__MEMORY_LIMIT": "256MB",
        f"{ENV_PREFIX}LIMITS__MAX_MEMORY_BYTES": ceiling,
        f"{ENV_PREFIX}LIMITS__QUERY_TIMEOUT_SECONDS": "30",
    }
    with server_process(env=env) as (uri, process):
        idle = services.rss_bytes(process.pid)
        try:
            outcome = run(uri)
        except Exception as exc:  # every refusal is a figure here, not a failure
            outcome = first_line(exc)
        peak = services.peak_rss_bytes(process.pid)
        return idle, peak, outcome, _answers_again(uri)


def _answers_again(uri: str, seconds: float = 60) -> bool:
    """Whether ``SELECT 42`` succeeds within ``seconds`` (stopped queries may still unwind)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return query("SELECT 42")(uri) == "answered"
        except Exception:
            time.sleep(0.2)
    return False


def run(ceiling: str = CEILING) -> Section:
    limit = TypeAdapter(ByteSize).validate_python(ceiling)
    section = Section(f"Attacks: server RSS growth with a {limit / 2**20:,.0f} MB memory ceiling")
    for name, attempt in ATTACKS.items():
        idle, peak, outcome, serving = attack(attempt, str(limit))
        section.figures[f"{name}: growth (MB)"] = round((peak - idle) / 2**20, 1)
        section.figures[f"{name}: peak (MB)"] = round(peak / 2**20, 1)
        section.figures[f"{name}: outcome"] = outcome[:60]
        section.figures[f"{name}: serving after"] = "yes" if serving else "NO"
    return section


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ceiling", default=CEILING, help="limits.max_memory_bytes")
    run(parser.parse_args().ceiling).print()


if __name__ == "__main__":
    main()
