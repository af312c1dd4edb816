"""4. Memory: a fresh server's peak RSS while one client scans a table at 1x and 10x size.

Streaming should keep the peak flat: a result held whole would grow it tenfold. The idle
RSS (the server before its first query) shows how much of the peak is the query's own.
"""

from __future__ import annotations

from benchmarks import services
from benchmarks.data import scan_table
from benchmarks.harness import Section
from benchmarks.scan import adbc_scan


def peak_during_scan(rows: int) -> tuple[int, int]:
    """A fresh server's RSS before its first query, and its peak RSS after two full scans."""
    table = scan_table(rows)
    with services.fw_server({"scan": table.root}) as (uri, pid, _ops):
        idle = services.rss_bytes(pid)
        _seconds, (count, _) = adbc_scan(uri, "SELECT * FROM local.scan.scan", 1)
        assert count == rows, count
        return idle, services.peak_rss_bytes(pid)


def run(rows: int) -> Section:
    section = Section(f"4. Memory: peak server RSS scanning {rows:,} and {rows * 10:,} rows")
    (idle, small), (_, large) = peak_during_scan(rows), peak_during_scan(rows * 10)
    section.figures["idle server RSS (MB)"] = round(idle / 1e6, 1)
    section.figures["peak RSS at 1x (MB)"] = round(small / 1e6, 1)
    section.figures["peak RSS at 10x (MB)"] = round(large / 1e6, 1)
    section.figures["peak above idle, 10x / 1x"] = round((large - idle) / (small - idle), 2)
    section.at_most("memory: peak RSS 10x / 1x", large / small, 1.3)
    return section
