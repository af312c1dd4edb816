"""5. Concurrency: 1, 4 and 16 clients each scanning the whole table at once."""

from __future__ import annotations

import threading
import time

from benchmarks import services
from benchmarks.data import scan_table
from benchmarks.harness import Section
from benchmarks.scan import adbc_scan

SQL = "SELECT * FROM local.scan.scan"


def together(uri: str, clients: int) -> tuple[float, int, int]:
    """Wall seconds for ``clients`` simultaneous scans, rows read and errors."""
    rows = errors = 0
    lock = threading.Lock()
    start_line = threading.Barrier(clients)

    def client() -> None:
        nonlocal rows, errors
        start_line.wait()
        try:
            _seconds, (count, _) = adbc_scan(uri, SQL, 1, warmup=0)
            with lock:
                rows += count
        except Exception:
            with lock:
                errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, rows, errors


def run(rows: int) -> Section:
    table = scan_table(rows)
    section = Section(f"5. Concurrency: clients scanning {rows:,} rows each at once")
    rates = {}
    with services.fw_server({"scan": table.root}) as (uri, _pid, _ops):
        together(uri, 1)  # warm-up
        for clients in (1, 4, 16):
            runs = [together(uri, clients) for _ in range(2)]
            seconds, read, _ = min(runs)
            errors = sum(run[2] for run in runs)
            rates[clients] = read / seconds
            section.figures[f"{clients} clients: aggregate M rows/s"] = round(
                read / seconds / 1e6, 2
            )
            section.figures[f"{clients} clients: errors"] = errors
            if clients == 16:
                section.at_most("concurrency: errors with 16 clients", errors, 0)
    section.at_least("concurrency: 16-client / 1-client throughput", rates[16] / rates[1], 0.9)
    return section
