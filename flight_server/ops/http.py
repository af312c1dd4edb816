"""The ops port: plain HTTP for probes and Prometheus, apart from the Flight port."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from flight_server import __version__
from flight_server.catalog.isolation import SKIPS
from flight_server.engine.result_cache import ResultCacheStats
from flight_server.ops.health import Readiness
from flight_server.ops.prometheus import Reading, Readings, exposition, registry
from flight_server.ops.telemetry import Telemetry
from flight_server.runtime import Runtime

log = logging.getLogger(__name__)

JSON = "application/json"


class OpsServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` from a background thread."""

    def __init__(
        self, runtime: Runtime, telemetry: Telemetry, readiness: Readiness, host: str, port: int
    ) -> None:
        self._metrics = registry([*telemetry.metrics, Readings(_readings(runtime, telemetry))])
        self._readiness = readiness
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="ops-http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        return int(self._httpd.server_address[1])

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ops = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(*self._answer())

            def do_HEAD(self) -> None:
                # What GET would answer, headers only (monitors that check the endpoint).
                self._reply(*self._answer(), body=False)

            def _answer(self) -> tuple[HTTPStatus, str, bytes]:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    return HTTPStatus.OK, JSON, _json({"status": "ok"})
                if path == "/readyz":
                    problems = ops._readiness.problems()
                    status = HTTPStatus.SERVICE_UNAVAILABLE if problems else HTTPStatus.OK
                    body = {
                        "status": "not ready" if problems else "ready",
                        "problems": problems,
                        "degraded": ops._readiness.degraded(),
                    }
                    return status, JSON, _json(body)
                if path == "/metrics":
                    data, content_type = exposition(ops._metrics, self.headers.get("Accept", ""))
                    return HTTPStatus.OK, content_type, data
                return HTTPStatus.NOT_FOUND, JSON, _json({"status": "not found"})

            def _reply(
                self, status: HTTPStatus, content_type: str, data: bytes, body: bool = True
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                # Probes every few seconds would drown the query log.
                log.debug("ops %s", format % args)

        return Handler


def _readings(runtime: Runtime, telemetry: Telemetry) -> list[Reading]:
    """The server's state, read at each scrape."""
    return [
        Reading(
            "fw_flight_sql_info",
            f"Server build information (version {__version__}).",
            lambda: 1,
        ),
        Reading(
            "fw_flight_sql_active_streams",
            "SQL result streams currently sending.",
            lambda: telemetry.active_streams,
        ),
        Reading(
            "fw_flight_sql_catalog_refresh_age_seconds",
            "Seconds since the catalog last loaded successfully (+Inf before the first).",
            lambda: _age(runtime.refreshed_at),
        ),
        Reading(
            "fw_flight_sql_catalog_refresh_failures_total",
            "Catalog refreshes that failed.",
            lambda: runtime.refresh_failures,
            kind="counter",
        ),
        Reading(
            "fw_flight_sql_catalog_datasets",
            "Datasets served.",
            lambda: len(runtime.snapshot.datasets),
        ),
        Reading(
            "fw_flight_sql_catalog_skipped_datasets",
            "Configured datasets that could not be served.",
            lambda: len(runtime.snapshot.skipped),
        ),
        Reading(
            "fw_flight_sql_catalog_stale_datasets",
            "Datasets served from their last good load because the latest one failed.",
            lambda: sum(
                1 for d in (*runtime.snapshot.datasets, *runtime.snapshot.derived) if d.stale
            ),
        ),
        Reading(
            "fw_flight_sql_catalog_skips_total",
            "Units of loading (project, dataset, version, table, file...) skipped, by kind.",
            SKIPS.snapshot,
            kind="counter",
            label="unit",
        ),
        Reading(
            "fw_flight_sql_catalog_loaded_files",
            "Files of the tables whose footers are loaded (bounded by limits.loaded_files).",
            lambda: runtime.loaded_files(),
        ),
        Reading(
            "fw_flight_sql_engine_memory_bytes",
            "Memory DuckDB holds for running queries and its caches (its own accounting).",
            lambda: runtime.engine.memory_bytes(),
        ),
        Reading(
            "fw_flight_sql_table_cache_tables",
            "Tables the hot table cache holds (0 when it is off).",
            lambda: runtime.engine.cache_stats().tables,
        ),
        Reading(
            "fw_flight_sql_table_cache_bytes",
            "Disk bytes of the tables the hot table cache holds.",
            lambda: runtime.engine.cache_stats().bytes,
        ),
        Reading(
            "fw_flight_sql_table_cache_pending",
            "Tables queued for, or being copied into, the hot table cache.",
            lambda: runtime.engine.cache_stats().pending,
        ),
        Reading(
            "fw_flight_sql_table_cache_indexes",
            "Lookup indexes of the table cache's copies (engine.cache_index_columns).",
            lambda: runtime.engine.cache_stats().indexes,
        ),
        Reading(
            "fw_flight_sql_guard_analyses_total",
            "New SQL texts the guard passed, by how: parsed, or by the shape of one parsed"
            " before (the same query with other constant values).",
            lambda: runtime.engine.analysis_counts(),
            kind="counter",
            label="how",
        ),
        Reading(
            "fw_flight_sql_memory_tables",
            "Tables the memory tables hold as Arrow (0 when they are off).",
            lambda: runtime.engine.memory_table_stats().results,
        ),
        Reading(
            "fw_flight_sql_memory_table_bytes",
            "Memory the memory tables' Arrow copies hold.",
            lambda: runtime.engine.memory_table_stats().bytes,
        ),
        Reading(
            "fw_flight_sql_result_cache_results",
            "Results the results cache holds (0 when it is off).",
            lambda: runtime.engine.result_cache_stats().results,
        ),
        Reading(
            "fw_flight_sql_result_cache_bytes",
            "Memory the results cache's results hold.",
            lambda: runtime.engine.result_cache_stats().bytes,
        ),
        Reading(
            "fw_flight_sql_result_cache_lookups_total",
            "Queries the results cache was asked for, by outcome: replayed (hit) or run (miss).",
            lambda: _lookups(runtime.engine.result_cache_stats()),
            kind="counter",
            label="outcome",
        ),
    ]


def _lookups(stats: ResultCacheStats) -> dict[str, int]:
    return {"hit": stats.hits, "miss": stats.misses}


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


def _age(moment: float | None) -> float:
    return math.inf if moment is None else max(0.0, time.time() - moment)
