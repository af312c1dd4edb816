"""6. Object storage: the full scan and one analytic query through moto's S3 server,
cold (first query after start) and warm (repeated), counting the storage requests.

Dataset files never change, so a warm query should only fetch data: no listings, no
HEADs and no footer reads; with the table cache on, a warm query reads nothing from S3.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pyarrow.parquet as pq

from benchmarks import services
from benchmarks.analytic import FW_NAMES, QUERIES
from benchmarks.data import TableFiles, flywheel_tables, scan_table
from benchmarks.harness import Section
from benchmarks.scan import adbc_scan
from flight_server.storage.base import Location, open_location
from tests.servers.s3 import S3Request, S3Server
from tests.support import upload

BUCKET = "bench"
ANALYTIC = "join, group by visit"


def kinds(requests: list[S3Request], footers: dict[str, int]) -> Counter[str]:
    """Requests by kind: listing, HEAD, footer read (starting inside the footer) or data."""
    counted: Counter[str] = Counter()
    for r in requests:
        start = int(r.range.removeprefix("bytes=").split("-")[0]) if r.range else 0
        if r.method == "HEAD":
            counted["head"] += 1
        elif not r.key or "list-type" in r.query or "delimiter" in r.query:
            counted["list"] += 1
        elif r.key in footers and start >= footers[r.key]:
            counted["footer"] += 1
        else:
            counted["get"] += 1
    return counted


def run(scan_rows: int, subjects: int) -> Section:
    section = Section("6. Object storage (moto S3): cold and warm runs, storage requests")
    scan, fw = scan_table(scan_rows), flywheel_tables(subjects)["files"]
    with S3Server() as s3:
        s3.create_bucket(BUCKET)
        options = s3.location_options()
        store = open_location(Location("s3", BUCKET, "", options))
        for name, table in (("scan", scan), ("fw", fw)):
            upload(table.root, store, f"{BUCKET}/{name}")
        footers = _footer_offsets(scan, fw)
        query = "&".join(f"{key}={value}" for key, value in options.items())  # taken literally
        datasets = {name: f"s3://{BUCKET}/{name}?{query}" for name in ("scan", "fw")}
        for variant, cache_bytes in (("", None), (" + table cache", services.CACHE_BYTES)):
            with services.fw_server(datasets, cache_bytes) as server:
                for label, sql in (
                    (f"scan {scan_rows:,} rows", "SELECT * FROM local.scan.scan"),
                    (f"analytic '{ANALYTIC}'", QUERIES[ANALYTIC].format(**FW_NAMES)),
                ):
                    for run_kind in ("cold", "warm"):
                        s3.clear_log()
                        start = time.perf_counter()
                        adbc_scan(server.uri, sql, 1, warmup=0)
                        seconds = time.perf_counter() - start
                        counted = kinds(s3.requests, footers)
                        name = f"{label}{variant} {run_kind}"
                        section.figures[f"{name}: seconds"] = round(seconds, 3)
                        section.figures[f"{name}: requests list/head/footer/get"] = (
                            f"{counted['list']}/{counted['head']}/{counted['footer']}/"
                            f"{counted['get']}"
                        )
                        if run_kind == "warm":
                            repeats = counted["list"] + counted["head"] + counted["footer"]
                            section.at_most(f"S3 {name}: list+head+footer", repeats, 0)
                        # The copy is made after the cold query; the warm one reads it.
                        server.settle_cache()
    return section


def _footer_offsets(*tables: TableFiles) -> dict[str, int]:
    """Each uploaded file's key → where its footer starts, to tell footer reads from data."""
    return {
        f"{name}/{path[len(table.root) + 1 :]}": os.path.getsize(path)
        - 8
        - pq.ParquetFile(path).metadata.serialized_size
        for name, table in zip(("scan", "fw"), tables, strict=True)
        for path in table.files
    }
