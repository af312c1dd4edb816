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
from flight_server.ops.health import Readiness
from flight_server.ops.prometheus import CONTENT_TYPE, Counter, Gauge, render
from flight_server.ops.telemetry import Telemetry
from flight_server.runtime import Runtime

log = logging.getLogger(__name__)


class OpsServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` from a background thread."""

    def __init__(
        self, runtime: Runtime, telemetry: Telemetry, readiness: Readiness, host: str, port: int
    ) -> None:
        self._metrics = [
            Gauge(
                "fw_flight_sql_info",
                f"Server build information (version {__version__}).",
                lambda: 1,
            ),
            telemetry.calls,
            telemetry.call_seconds,
            telemetry.queries,
            telemetry.query_seconds,
            telemetry.rows,
            telemetry.bytes,
            Gauge(
                "fw_flight_sql_active_streams",
                "SQL result streams currently sending.",
                lambda: telemetry.active_streams,
            ),
            Gauge(
                "fw_flight_sql_catalog_refresh_age_seconds",
                "Seconds since the catalog last loaded successfully (+Inf before the first).",
                lambda: _age(runtime.refreshed_at),
            ),
            _FailureCounter(runtime),
            Gauge(
                "fw_flight_sql_catalog_datasets",
                "Datasets served.",
                lambda: len(runtime.snapshot.datasets),
            ),
            Gauge(
                "fw_flight_sql_catalog_skipped_datasets",
                "Configured datasets that could not be served.",
                lambda: len(runtime.snapshot.skipped),
            ),
            Gauge(
                "fw_flight_sql_catalog_stale_datasets",
                "Datasets served from their last good load because the latest one failed.",
                lambda: sum(
                    1 for d in (*runtime.snapshot.datasets, *runtime.snapshot.derived) if d.stale
                ),
            ),
            _SkipCounter(),
            Gauge(
                "fw_flight_sql_engine_memory_bytes",
                "Memory DuckDB holds for running queries and its caches (its own accounting).",
                lambda: runtime.engine.memory_bytes(),
            ),
            Gauge(
                "fw_flight_sql_table_cache_tables",
                "Tables the hot table cache holds (0 when it is off).",
                lambda: runtime.engine.cache_stats().tables,
            ),
            Gauge(
                "fw_flight_sql_table_cache_bytes",
                "Disk bytes of the tables the hot table cache holds.",
                lambda: runtime.engine.cache_stats().bytes,
            ),
            Gauge(
                "fw_flight_sql_table_cache_pending",
                "Tables queued for, or being copied into, the hot table cache.",
                lambda: runtime.engine.cache_stats().pending,
            ),
        ]
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
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._reply(HTTPStatus.OK, "application/json", {"status": "ok"})
                elif path == "/readyz":
                    problems = ops._readiness.problems()
                    status = HTTPStatus.SERVICE_UNAVAILABLE if problems else HTTPStatus.OK
                    body = {
                        "status": "not ready" if problems else "ready",
                        "problems": problems,
                        "degraded": ops._readiness.degraded(),
                    }
                    self._reply(status, "application/json", body)
                elif path == "/metrics":
                    self._reply(HTTPStatus.OK, CONTENT_TYPE, render(ops._metrics))
                else:
                    self._reply(HTTPStatus.NOT_FOUND, "application/json", {"status": "not found"})

            def _reply(self, status: HTTPStatus, content_type: str, body: object) -> None:
                text = body if isinstance(body, str) else json.dumps(body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                # Probes every few seconds would drown the query log.
                log.debug("ops %s", format % args)

        return Handler


class _FailureCounter(Counter):
    """Catalog refresh failures, read from the runtime that counts them."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            "fw_flight_sql_catalog_refresh_failures_total", "Catalog refreshes that failed."
        )
        self._runtime = runtime

    def samples(self) -> list[str]:
        return [f"{self.name} {self._runtime.refresh_failures}"]


class _SkipCounter(Counter):
    """Units of loading skipped since start-up, by kind, read from the catalog's boundary."""

    def __init__(self) -> None:
        super().__init__(
            "fw_flight_sql_catalog_skips_total",
            "Units of loading (project, dataset, version, table, file...) skipped, by kind.",
            ("unit",),
        )

    def samples(self) -> list[str]:
        counts = sorted(SKIPS.snapshot().items())
        return [f'{self.name}{{unit="{kind}"}} {count}' for kind, count in counts]


def _age(moment: float | None) -> float:
    return math.inf if moment is None else max(0.0, time.time() - moment)
