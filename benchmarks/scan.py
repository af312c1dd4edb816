"""Full-scan throughput: the server through ADBC versus in-process DuckDB into Arrow.

    python -m benchmarks.scan [--rows 5000000] [--repeat 3] [--json out.json]

Both sides run the same SQL over the same parquet files; the server runs in a separate
process, as in production, and the client consumes the stream batch by batch.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import fsspec
import pyarrow as pa

from flight_server.catalog.layout import read_versions
from flight_server.config import EngineSettings
from flight_server.demo import write_scan_table
from tests.support import server_process

DATA_DIR = Path("bench-data")
# The server's default batch size, so both sides hand over batches of the same shape.
BATCH_ROWS = EngineSettings().batch_rows


@dataclass(frozen=True)
class Measurement:
    """The best of several timed runs of one way of scanning the table."""

    name: str
    seconds: float
    rows: int
    bytes: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / self.seconds / 1e6


def scan_table(rows: int) -> tuple[str, tuple[str, ...]]:
    """The benchmark dataset's root and the scan table's files, written on first use."""
    root = (DATA_DIR / f"scan-{rows}").resolve()
    if not root.exists():
        write_scan_table(str(root), rows, files=max(1, rows // 500_000))
    latest = read_versions(fsspec.filesystem("file"), str(root))[-1]
    return str(root), latest.tables["scan"].files


def consume(batches: Iterable[pa.RecordBatch]) -> tuple[int, int]:
    """Read a stream to the end, keeping nothing but counts."""
    rows = size = 0
    for batch in batches:
        rows += batch.num_rows
        size += batch.nbytes
    return rows, size


def best_of(name: str, repeat: int, run: Callable[[], tuple[int, int]]) -> Measurement:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        rows, size = run()
        timings.append(time.perf_counter() - start)
    return Measurement(name, min(timings), rows, size)


def duckdb_in_process(files: tuple[str, ...], sql: str, repeat: int) -> Measurement:
    listed = ", ".join(f"'{path}'" for path in files)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW scan AS SELECT * FROM read_parquet([{listed}], union_by_name = true)")
    return best_of(
        "duckdb in-process → Arrow", repeat, lambda: consume(con.sql(sql).to_arrow_reader())
    )


def server_over_adbc(uri: str, sql: str, repeat: int) -> Measurement:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:

        def run() -> tuple[int, int]:
            cur.execute(sql)
            return consume(cur.fetch_record_batch())

        return best_of("fw-flight-sql via ADBC → Arrow", repeat, run)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    # A read-only server has no transactions; ADBC warns that autocommit stays on.
    warnings.filterwarnings("ignore", "Cannot disable autocommit")

    root, files = scan_table(args.rows)
    reference = duckdb_in_process(files, "SELECT * FROM scan", args.repeat)
    with server_process("--dataset", f"scan={root}") as (uri, _process):
        server = server_over_adbc(uri, "SELECT * FROM local.scan.scan", args.repeat)
    assert server.rows == reference.rows == args.rows, (server.rows, reference.rows)

    size_mb = reference.bytes / 1e6
    print(f"full scan of {args.rows:,} rows ({size_mb:,.0f} MB as Arrow), best of {args.repeat}")
    for m in (reference, server):
        rate = f"{m.rows_per_second / 1e6:7.2f} M rows/s  {m.megabytes_per_second:8.1f} MB/s"
        print(f"  {m.name:<34} {m.seconds:7.3f} s  {rate}")
    ratio = server.rows_per_second / reference.rows_per_second
    print(f"  ratio server / in-process DuckDB: {ratio:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"measurements": [asdict(reference), asdict(server)], "ratio": ratio}, indent=2
            )
        )


if __name__ == "__main__":
    main()
