"""1. Full scan: the mixed-type table over ADBC → Arrow against in-process DuckDB, a bare
pyarrow.flight server streaming from memory (read by pyarrow.flight, and, as the bare Flight
SQL server, by ADBC), and ROAPI's Flight SQL port. The server runs three times: with its
defaults (parquet every time), with its table cache on, and with its memory tables on as
well (each warmed first).

Every server is up at once and the ways of scanning take turns, so noise from other
work on the machine falls on all of them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow.flight as flight

from benchmarks import services
from benchmarks.data import scan_table
from benchmarks.harness import Section, best_seconds, consume, interleaved_best
from benchmarks.services import CACHE_BYTES
from flight_server.config import EngineSettings
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb

# The server's default batch size, so every side hands over batches of the same shape.
BATCH_ROWS = EngineSettings().batch_rows
SERVER = "fw-flight-sql via ADBC → Arrow"
CACHED = "fw-flight-sql + table cache via ADBC → Arrow"
MEMORY = "fw-flight-sql + memory tables via ADBC → Arrow"
# The same, read by the client the raw server is read with: ADBC's own decoding is not ours.
MEMORY_PYARROW = "fw-flight-sql + memory tables via pyarrow.flight → Arrow"
#: Room for the 10M-row table's Arrow copy (686 MB) in the memory tables.
MEMORY_BYTES = "2GiB"
DUCKDB = "in-process DuckDB → Arrow"
RAW = "raw pyarrow.flight from memory"
# The same table from the same memory, served as Flight SQL so that ADBC can read it.
BARE_ADBC = "bare Flight SQL from memory via ADBC → Arrow"
ROAPI = "ROAPI via ADBC → Arrow"


def adbc_scan(uri: str, sql: str, repeat: int, warmup: int = 1) -> tuple[float, tuple[int, int]]:
    """Best time to run ``sql`` over ADBC and read its stream to the end."""
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        return best_seconds(repeat, adbc_run(cur, sql), warmup)  # type: ignore[return-value]


def adbc_run(cur: flight_sql.Cursor, sql: str) -> Callable[[], tuple[int, int]]:
    """One scan over an open ADBC cursor, read batch by batch to the end."""

    def run() -> tuple[int, int]:
        cur.execute(sql)
        return consume(cur.fetch_record_batch())

    return run


def pyarrow_run(uri: str, sql: str) -> Callable[[], tuple[int, int]]:
    """One run of ``sql`` read with a plain pyarrow.flight client, every endpoint in turn."""
    client = flight.connect(uri)
    query = flight.FlightDescriptor.for_command(commands.pack(pb.CommandStatementQuery(query=sql)))

    def run() -> tuple[int, int]:
        rows = size = 0
        for endpoint in client.get_flight_info(query).endpoints:
            more_rows, more_bytes = consume(client.do_get(endpoint.ticket).to_reader())
            rows, size = rows + more_rows, size + more_bytes
        return rows, size

    return run


def duckdb_run(files: tuple[str, ...], sql: str) -> Callable[[], tuple[int, int]]:
    """One run of ``sql`` in in-process DuckDB over view ``scan`` of ``files``."""
    con = duckdb.connect()
    listed = ", ".join(f"'{path}'" for path in files)
    con.execute(f"CREATE VIEW scan AS SELECT * FROM read_parquet([{listed}])")
    return lambda: consume(con.sql(sql).to_arrow_reader(BATCH_ROWS))


def run(rows: int, repeat: int) -> Section:
    table = scan_table(rows)
    section = Section(f"1. Full scan: {rows:,} rows, mixed types (best of {repeat}, in turns)")
    with ExitStack() as stack:
        ours = stack.enter_context(services.fw_server({"scan": table.root})).uri
        cached = stack.enter_context(services.fw_server({"scan": table.root}, CACHE_BYTES))
        memory = stack.enter_context(
            services.fw_server({"scan": table.root}, CACHE_BYTES, memory_table_bytes=MEMORY_BYTES)
        )
        raw = flight.connect(
            stack.enter_context(services.raw_flight(list(table.files), BATCH_ROWS))
        )
        bare = stack.enter_context(
            services.bare_flight_sql(files=table.files, batch_rows=BATCH_ROWS)
        )
        roapi = stack.enter_context(services.roapi({"scan": table.files})).uri
        cursors = {
            uri: stack.enter_context(stack.enter_context(flight_sql.connect(uri)).cursor())
            for uri in (ours, cached.uri, memory.uri, bare.uri, roapi)
        }
        adbc_run(cursors[cached.uri], "SELECT * FROM local.scan.scan")()
        adbc_run(cursors[memory.uri], "SELECT * FROM local.scan.scan")()  # makes its copy
        cached.settle_cache()
        memory.settle_cache()
        best, results = interleaved_best(
            {
                DUCKDB: duckdb_run(table.files, "SELECT * FROM scan"),
                SERVER: adbc_run(cursors[ours], "SELECT * FROM local.scan.scan"),
                CACHED: adbc_run(cursors[cached.uri], "SELECT * FROM local.scan.scan"),
                MEMORY: adbc_run(cursors[memory.uri], "SELECT * FROM local.scan.scan"),
                MEMORY_PYARROW: pyarrow_run(memory.uri, "SELECT * FROM local.scan.scan"),
                RAW: lambda: consume(raw.do_get(flight.Ticket(b"scan")).to_reader()),
                BARE_ADBC: adbc_run(cursors[bare.uri], "SELECT * FROM scan"),
                ROAPI: adbc_run(cursors[roapi], "SELECT * FROM scan"),
            },
            repeat,
        )
    counts = {name: result[0] for name, result in results.items()}  # type: ignore[index]
    assert set(counts.values()) == {rows}, counts
    section.figures["Arrow size (MB)"] = round(results[DUCKDB][1] / 1e6, 1)  # type: ignore[index]
    for name, seconds in best.items():
        section.figures[f"{name} (s)"] = round(seconds, 3)
        section.figures[f"{name} (M rows/s)"] = round(rows / seconds / 1e6, 2)
    section.figures["scan: server / raw flight"] = round(best[RAW] / best[SERVER], 3)
    accelerated = (("server + table cache", CACHED), ("server + memory tables", MEMORY))
    for label, name in (("server", SERVER), *accelerated):
        section.at_least(f"scan: {label} / in-process DuckDB", best[DUCKDB] / best[name], 0.8)
        section.at_least(f"scan: {label} / ROAPI", best[ROAPI] / best[name], 1.3)
    for label, name in (*accelerated, ("server + memory tables, pyarrow client", MEMORY_PYARROW)):
        section.at_least(f"scan: {label} / raw flight", best[RAW] / best[name], 0.9)
    section.at_least(
        "scan: server + memory tables / bare Flight SQL from memory, both read by ADBC",
        best[BARE_ADBC] / best[MEMORY],
        0.9,
    )
    return section
