"""Partitioned SQL: one table read through ADBC partitions by 1, 2 and 4 reader threads,
and by Spark ``local[2]`` through the ``fw-flight-sql`` data source, against the same
query read whole from its single endpoint.

    python -m benchmarks --only partitions [--quick]

Each reader has its own connection and takes partitions in turn, as Dask or Spark
workers would. On a 2-core machine the server, DuckDB and the readers share two cores, so
the figure shows what splitting a read costs (overhead), not the speed-up several cores
or replicas give.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import adbc_driver_flightsql.dbapi as flight_sql

from benchmarks import services
from benchmarks.data import scan_table
from benchmarks.harness import Section, consume, interleaved_best

SQL = "SELECT * FROM local.scan.scan"
READERS = (1, 2, 4)
WHOLE = "single endpoint"


def whole_read(cursor: flight_sql.Cursor, rows: int) -> Callable[[], tuple[int, int]]:
    """The same rows through one endpoint, read to the end: a LIMIT of all of them keeps
    the query whole (the plain scan is partitioned, and ``execute`` reads every part)."""

    def run() -> tuple[int, int]:
        cursor.execute(f"{SQL} LIMIT {rows}")
        return consume(cursor.fetch_record_batch())

    return run


def partitioned_read(
    planner: flight_sql.Cursor, readers: list[flight_sql.Cursor]
) -> Callable[[], tuple[int, int]]:
    """The query's partitions (``adbc_execute_partitions``), read by ``readers`` in turn."""

    def read(reader: flight_sql.Cursor, partitions: list[bytes]) -> tuple[int, int]:
        rows = size = 0
        for partition in partitions:
            reader.adbc_read_partition(partition)
            got = consume(reader.fetch_record_batch())
            rows, size = rows + got[0], size + got[1]
        return rows, size

    def run() -> tuple[int, int]:
        partitions, _schema = planner.adbc_execute_partitions(SQL)
        shares = [partitions[i :: len(readers)] for i in range(len(readers))]
        with ThreadPoolExecutor(len(readers)) as pool:
            counts = list(pool.map(read, readers, shares))
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    return run


def spark_read(uri: str) -> float | str:
    """Seconds for Spark ``local[2]`` to read the table in full (every endpoint a Spark
    partition), once the session is up; or why it could not run here."""
    try:
        from fw_flight.spark import FlightSqlDataSource
        from pyspark.sql import SparkSession
    except ImportError as exc:
        return f"not run: {exc}"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    )
    try:
        session.dataSource.register(FlightSqlDataSource)
        frame = session.read.format("fw-flight-sql").option("uri", uri).load("local.scan.scan")
        started = time.perf_counter()
        frame.write.format("noop").mode("overwrite").save()  # reads every row, keeps none
        return time.perf_counter() - started
    finally:
        session.stop()


def run(rows: int, repeat: int) -> Section:
    table = scan_table(rows)
    cores = len(os.sched_getaffinity(0))
    section = Section(
        f"Partitioned SQL: {rows:,} rows by ADBC partitions (best of {repeat}, in turns)"
    )
    connections: list[flight_sql.Connection] = []
    with services.fw_server({"scan": table.root}) as server:
        try:
            cursors = []
            for _ in range(1 + max(READERS)):
                connections.append(flight_sql.connect(server.uri, autocommit=True))
                cursors.append(connections[-1].cursor())
            endpoints = len(cursors[0].adbc_execute_partitions(SQL)[0])
            runs = {WHOLE: whole_read(cursors[0], rows)}
            for count in READERS:
                runs[f"{count} partition readers"] = partitioned_read(
                    cursors[0], cursors[1 : 1 + count]
                )
            best, results = interleaved_best(runs, repeat)
            spark = spark_read(server.uri)
        finally:
            for connection in connections:
                connection.close()
    counts = {name: result[0] for name, result in results.items()}  # type: ignore[index]
    assert set(counts.values()) == {rows}, counts
    section.figures["rows"] = rows
    section.figures["files / endpoints"] = f"{len(table.files)} / {endpoints}"
    section.figures["cores"] = cores
    for name, seconds in best.items():
        section.figures[f"{name} (s)"] = round(seconds, 3)
    for count in READERS:
        name = f"{count} partition readers"
        section.figures[f"single endpoint / {name}"] = round(best[WHOLE] / best[name], 3)
    if isinstance(spark, float):
        section.figures["Spark local[2] (s)"] = round(spark, 3)
        section.figures["single endpoint / Spark local[2]"] = round(best[WHOLE] / spark, 3)
    else:
        section.figures["Spark local[2]"] = spark
    if cores <= 2:
        section.figures["note"] = (
            f"{cores} cores shared by server and readers: ratios show overhead, not speed-up"
        )
    return section
