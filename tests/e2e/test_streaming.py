"""Large results stream in many batches with bounded server memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import psutil
import pytest

from flight_server.demo import GeneratedDataset, write_scan_table
from tests.support import server_process

ROWS = 5_000_000


@pytest.fixture(scope="module")
def scan_dataset(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    root = tmp_path_factory.mktemp("scan") / "scan"
    return write_scan_table(str(root), ROWS, files=20)


class PeakRss:
    """Samples a process's resident memory in a background thread."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)


@pytest.fixture(scope="module")
def scan_server(scan_dataset: GeneratedDataset) -> Iterator[tuple[str, int]]:
    with server_process(
        "--dataset", f"scan={scan_dataset.root}", env={"FW_FLIGHT_SQL_ENGINE__THREADS": "2"}
    ) as (
        uri,
        process,
    ):
        yield uri, process.pid


def test_large_table_streams_in_many_batches_with_bounded_memory(
    scan_server: tuple[str, int],
) -> None:
    uri, pid = scan_server
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        # Warm up with one full scan: thread pools, DuckDB's buffer pool and the allocator's
        # arenas grow once and are reused; what we bound is growth per query after that.
        cur.execute("SELECT * FROM local.scan.scan")
        assert sum(batch.num_rows for batch in cur.fetch_record_batch()) == ROWS
        with PeakRss(pid) as rss:
            # LIMIT keeps the query to one endpoint, so this bounds one stream (a plain
            # scan is partitioned, and ADBC reads its endpoints at once).
            cur.execute(f"SELECT * FROM local.scan.scan LIMIT {ROWS}")
            reader = cur.fetch_record_batch()
            rows = batches = streamed_bytes = 0
            for batch in reader:
                assert batch.num_rows > 0, "a zero-row batch was sent"
                rows += batch.num_rows
                batches += 1
                streamed_bytes += batch.nbytes
    assert rows == ROWS
    assert batches >= 10
    growth = rss.peak - rss.baseline
    # The whole result is ~streamed_bytes; a server that materialised it would grow by at
    # least that much. Streaming keeps growth to a few batches plus DuckDB's read buffers.
    assert growth < streamed_bytes / 4, (
        f"server grew {growth / 1e6:.0f} MB for {streamed_bytes / 1e6:.0f} MB"
    )


def test_empty_result_sends_schema_only(scan_server: tuple[str, int]) -> None:
    uri, _pid = scan_server
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, ts FROM local.scan.scan WHERE id < 0")
        reader = cur.fetch_record_batch()
        assert reader.schema.names == ["id", "ts"]
        assert list(reader) == []


def test_demo_cli_writes_once(tmp_path: Path) -> None:
    from flight_server.demo.__main__ import main

    root = tmp_path / "demo"
    main([str(root)])
    first = sorted(p.relative_to(root) for p in root.rglob("*"))
    main([str(root)])
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == first
