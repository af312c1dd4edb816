"""The ops port against a real server: probes, readiness, and metrics that follow queries."""

from __future__ import annotations

import http.client
import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as flight
import pytest

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset
from flight_server.flightsql import commands
from flight_server.flightsql import flight_sql_pb2 as pb
from flight_server.ops.prometheus import Reading, Readings, exposition, registry
from flight_server.ops.streams import sql_digest
from tests.service_support import get, get_json, running_service, scrape
from tests.support import REPO, free_port

ROWS = 300_000
QUERY = f"SELECT range AS i, 'x' || range AS s FROM range({ROWS})"


def test_healthz_and_readyz_answer_when_serving(demo: GeneratedDataset) -> None:
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    with running_service(settings) as service:
        assert service.ops is not None
        assert get_json(service.ops.port, "/healthz") == (200, {"status": "ok"})
        healthy = {"skipped": 0, "stale": 0, "storage_unreachable": [], "flywheel_site": None}
        assert get_json(service.ops.port, "/readyz") == (
            200,
            {"status": "ready", "problems": [], "degraded": healthy},
        )
        assert get(service.ops.port, "/nope")[0] == 404


def test_readyz_is_ready_only_once_the_flight_port_answers(
    demo: GeneratedDataset, tmp_path: Path
) -> None:
    # As a Kubernetes probe sees a starting pod: the first 200 must mean calls are served.
    # The catalog loads before the Flight port opens, tens of milliseconds apart.
    port, ops_port = free_port(), free_port()
    command = [sys.executable, "-m", "flight_server", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--ops-port", str(ops_port), "--dataset", f"proj1={demo.root}"]
    log = tmp_path / "server.log"
    with (
        log.open("w") as output,
        subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT) as server,
    ):
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if get(ops_port, "/readyz")[0] == 200:
                        break
                except OSError:  # the ops port is not open yet either
                    time.sleep(0.001)
            client = flight.connect(f"grpc://127.0.0.1:{port}")
            options = flight.FlightCallOptions(timeout=5)
            # No retry: it answers now.
            assert [action.type for action in client.list_actions(options)], log.read_text()
        finally:
            server.terminate()


def test_readyz_fails_when_storage_is_unreachable(demo: GeneratedDataset, tmp_path: Path) -> None:
    copy = tmp_path / "proj1"
    shutil.copytree(demo.root, copy)
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=str(copy))])
    with running_service(settings) as service:
        assert service.ops is not None
        shutil.rmtree(copy)
        status, body = get_json(service.ops.port, "/readyz")
        assert status == 503
        assert body["problems"] == ["storage of local.proj1 unreachable (root missing)"]
        assert get(service.ops.port, "/healthz")[0] == 200  # alive, just not ready


def test_readyz_fails_while_draining(demo: GeneratedDataset) -> None:
    with running_service(Settings()) as service:
        assert service.ops is not None
        service.readiness.drain()
        status, body = get_json(service.ops.port, "/readyz")
        assert (status, body["status"], body["problems"]) == (503, "not ready", ["shutting down"])


def test_metrics_change_after_a_query(
    demo: GeneratedDataset, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    with running_service(settings) as service:
        assert service.ops is not None
        before = scrape(service.ops.port)
        with (
            caplog.at_level(logging.INFO, logger="flight_server.queries"),
            flight_sql.connect(service.uri) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(QUERY)
            table = cursor.fetch_arrow_table()
        after = scrape(service.ops.port)

    assert table.num_rows == ROWS
    assert before["fw_flight_sql_rows_streamed_total"] == 0
    assert after["fw_flight_sql_rows_streamed_total"] == ROWS
    assert after["fw_flight_sql_bytes_streamed_total"] >= table.nbytes
    assert after['fw_flight_sql_queries_total{status="ok"}'] == 1
    assert after["fw_flight_sql_query_duration_seconds_count"] == 1
    assert after['fw_flight_sql_query_duration_seconds_bucket{le="+Inf"}'] == 1
    assert after['fw_flight_sql_calls_total{method="DoGet",status="OK"}'] >= 1
    assert after['fw_flight_sql_call_duration_seconds_count{method="DoGet"}'] >= 1
    assert after['fw_flight_sql_calls_total{method="GetFlightInfo",status="OK"}'] >= 1
    assert after["fw_flight_sql_active_streams"] == 0
    assert after["fw_flight_sql_catalog_datasets"] == 1
    assert after["fw_flight_sql_catalog_refresh_failures_total"] == 0
    assert 0 <= after["fw_flight_sql_catalog_refresh_age_seconds"] < float("inf")

    (line,) = [r for r in caplog.records if r.name == "flight_server.queries"]
    assert (line.status, line.rows, line.sql_digest) == ("ok", ROWS, sql_digest(QUERY))
    assert line.bytes == after["fw_flight_sql_bytes_streamed_total"]
    assert line.user == "anonymous" and len(line.query_id) == 16
    assert QUERY not in line.getMessage()


class _QueryIds(flight.ClientMiddlewareFactory):
    """The ``x-query-id`` values each call's reply carried (headers and trailers), in call
    order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str]]] = []

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        values: list[str] = []
        self.seen.append((info.method.name, values))
        return _QueryIdsOfOneCall(values)


class _QueryIdsOfOneCall(flight.ClientMiddleware):
    def __init__(self, values: list[str]) -> None:
        self._values = values

    def received_headers(self, headers: dict[str, list[str]]) -> None:
        self._values.extend(headers.get("x-query-id", []))


def test_the_call_that_ran_a_query_names_it_by_the_query_logs_id(
    demo: GeneratedDataset, caplog: pytest.LogCaptureFixture
) -> None:
    # docs/deploy.md: a client can quote the x-query-id of the call that ran its query
    # to find the query's log line; every call has an id of its own.
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    ids = _QueryIds()
    command = commands.pack(pb.CommandStatementQuery(query=QUERY))
    with (
        running_service(settings) as service,
        caplog.at_level(logging.INFO, logger="flight_server.queries"),
        flight.connect(service.uri, middleware=[ids]) as client,
    ):
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
        assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == ROWS
    (line,) = [r for r in caplog.records if r.name == "flight_server.queries"]
    assert [method for method, _ in ids.seen] == ["GET_FLIGHT_INFO", "DO_GET"]
    # pyarrow hands a unary call's headers to the middleware again with its trailers.
    (planned,), (ran,) = (set(values) for _, values in ids.seen)
    assert ran == line.query_id and planned != ran
    assert all(len(value) == 16 and int(value, 16) >= 0 for value in (planned, ran))


def test_failed_calls_are_counted_by_status(demo: GeneratedDataset) -> None:
    with running_service(Settings()) as service, flight_sql.connect(service.uri) as conn:
        assert service.ops is not None
        with conn.cursor() as cursor, pytest.raises(flight_sql.Error):
            cursor.execute("SELECT * FROM no_such_table")
        after = scrape(service.ops.port)
    failed = {
        name: value
        for name, value in after.items()
        if name.startswith("fw_flight_sql_calls_total") and 'status="OK"' not in name
    }
    assert list(failed.values()) == [1]
    assert 'status="NOT_FOUND"' in next(iter(failed))


def test_a_gauge_that_cannot_be_read_leaves_the_rest_of_the_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreadable() -> float:
        raise RuntimeError("database closed")

    metrics = registry(
        [Readings([Reading("broken", "Fails.", unreadable), Reading("fine", "Works.", lambda: 3)])]
    )
    with caplog.at_level(logging.WARNING, logger="flight_server.ops.prometheus"):
        text = exposition(metrics, "")[0].decode()
    assert "# TYPE broken gauge" in text
    assert not [line for line in text.splitlines() if line.startswith("broken ")]
    assert "fine 3.0" in text.splitlines()
    assert "metric broken unreadable: RuntimeError" in caplog.messages


def test_metrics_include_the_process_and_speak_openmetrics_when_asked(
    demo: GeneratedDataset,
) -> None:
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    with running_service(settings) as service:
        assert service.ops is not None
        plain = scrape(service.ops.port)
        url = f"http://127.0.0.1:{service.ops.port}/metrics"
        accept = {"Accept": "application/openmetrics-text; version=1.0.0, text/plain;q=0.5"}
        with urllib.request.urlopen(urllib.request.Request(url, headers=accept)) as reply:
            content_type = reply.headers["Content-Type"]
            openmetrics = reply.read().decode()
    assert plain["process_resident_memory_bytes"] > 0
    assert plain["process_open_fds"] > 0
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert openmetrics.endswith("# EOF\n")
    assert "# TYPE fw_flight_sql_calls counter" in openmetrics
    assert "fw_flight_sql_catalog_datasets 1.0" in openmetrics.splitlines()


def test_head_answers_what_get_would_without_a_body(demo: GeneratedDataset) -> None:
    with running_service(Settings()) as service:
        assert service.ops is not None
        connection = http.client.HTTPConnection("127.0.0.1", service.ops.port, timeout=10)
        answers = {}
        for path in ("/metrics", "/healthz", "/nope"):
            connection.request("HEAD", path)
            reply = connection.getresponse()
            answers[path] = (reply.status, reply.headers["Content-Type"], reply.read())
            assert int(reply.headers["Content-Length"]) > 0
        connection.close()
    assert answers == {
        "/metrics": (200, "text/plain; version=0.0.4; charset=utf-8", b""),
        "/healthz": (200, "application/json", b""),
        "/nope": (404, "application/json", b""),
    }
