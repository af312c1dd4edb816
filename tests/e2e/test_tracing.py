"""OpenTelemetry tracing against a real server: a span per RPC and per query, in the trace
the client's ``traceparent`` names; exported as the standard ``OTEL_*`` variables say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flight_server.config import DatasetSettings, Settings
from flight_server.demo import GeneratedDataset
from flight_server.ops.streams import sql_digest
from tests.service_support import running_service
from tests.support import REPO, server_process

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
HEADER_OPTION = "adbc.flight.sql.rpc.call_header.traceparent"
QUERY = "SELECT label FROM proj1.subjects WHERE label <> 'nobody'"
CALL_PREFIX = "arrow.flight.protocol.FlightService/"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans recorded in memory, through the process's tracer provider (set once per process)."""
    recorded = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    yield recorded
    recorded.shutdown()  # the provider stays (it cannot be unset); spans after this are dropped


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    exporter.clear()
    return exporter


def test_rpcs_and_the_query_are_spans_in_the_clients_trace(
    demo: GeneratedDataset, spans: InMemorySpanExporter
) -> None:
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)])
    with (
        running_service(settings) as service,
        flight_sql.connect(service.uri, db_kwargs={HEADER_OPTION: TRACEPARENT}) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(QUERY)
        rows = cursor.fetch_arrow_table().num_rows
    finished = spans.get_finished_spans()
    calls = [s for s in finished if s.name.startswith(CALL_PREFIX)]
    (query,) = [s for s in finished if s.name == "query"]

    assert {s.name.removeprefix(CALL_PREFIX) for s in calls} >= {"GetFlightInfo", "DoGet"}
    for call in calls:
        assert f"{call.context.trace_id:032x}" == TRACE_ID
        assert call.parent is not None and f"{call.parent.span_id:016x}" == CLIENT_SPAN_ID
        assert call.parent.is_remote
        assert call.kind is trace.SpanKind.SERVER
        assert call.attributes["rpc.system"] == "grpc"
        assert call.attributes["rpc.response.status_code"] == "OK"
        assert call.attributes["enduser.id"] == "anonymous"
    starting = [c for c in calls if c.context.span_id == query.parent.span_id]
    assert len(starting) == 1 and f"{query.context.trace_id:032x}" == TRACE_ID
    assert (
        query.attributes["fw_flight_sql.query_id"]
        == starting[0].attributes["fw_flight_sql.query_id"]
    )
    assert query.attributes["fw_flight_sql.sql_digest"] == sql_digest(QUERY)
    assert (query.attributes["fw_flight_sql.status"], query.attributes["fw_flight_sql.rows"]) == (
        "ok",
        rows,
    )
    assert rows > 0
    # Like the query log: the digest, never the text (literals may be personal data).
    assert not [s for s in finished if QUERY in json.dumps(dict(s.attributes))]


def test_a_call_without_traceparent_starts_its_own_trace(
    demo: GeneratedDataset, spans: InMemorySpanExporter
) -> None:
    with running_service(Settings()) as service:
        client = flight.connect(service.uri)
        with pytest.raises(pa.ArrowInvalid):
            client.get_flight_info(flight.FlightDescriptor.for_command(b"not a command"))
        headers = [(b"traceparent", TRACEPARENT.encode())]
        list(client.list_actions(options=flight.FlightCallOptions(headers=headers)))
        client.close()
    by_method = {s.name.removeprefix(CALL_PREFIX): s for s in spans.get_finished_spans()}
    failed, listed = by_method["GetFlightInfo"], by_method["ListActions"]
    assert failed.parent is None
    assert f"{failed.context.trace_id:032x}" != TRACE_ID
    assert failed.attributes["rpc.response.status_code"] == "INVALID_ARGUMENT"
    assert failed.status.is_unset  # the caller's mistake, not a server error
    assert f"{listed.context.trace_id:032x}" == TRACE_ID


def _spans_in(output: str) -> list[dict]:
    """The JSON spans the console exporter printed among the log lines."""
    decoder = json.JSONDecoder()
    found, position = [], output.find("{\n")
    while position != -1:
        span, end = decoder.raw_decode(output, position)
        found.append(span)
        position = output.find("{\n", end)
    return found


def test_the_otel_variables_configure_the_exporter(demo: GeneratedDataset) -> None:
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": "deployment=test"}
    env.pop("OTEL_SERVICE_NAME", None)
    served = server_process("--dataset", f"proj1={demo.root}", env=env, read_output=True)
    with (
        served as (uri, process),
        flight_sql.connect(uri, db_kwargs={HEADER_OPTION: TRACEPARENT}) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(QUERY)
        cursor.fetch_arrow_table()
    assert process.stdout is not None
    spans = _spans_in(process.stdout.read())  # flushed when the server exits
    traced = [s for s in spans if s["context"]["trace_id"] == f"0x{TRACE_ID}"]
    assert {s["name"] for s in traced} >= {f"{CALL_PREFIX}DoGet", "query"}
    resource = traced[0]["resource"]["attributes"]
    assert resource["service.name"] == "fw-flight-sql"
    assert resource["deployment"] == "test"


def _python(script: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stderr + result.stdout  # the printed result last


def test_without_the_variables_nothing_is_traced_or_imported() -> None:
    script = (
        "import sys\n"
        "from flight_server.ops import Telemetry\n"
        "print(Telemetry().tracing, 'opentelemetry' in sys.modules)\n"
    )
    assert _python(script, {}).strip() == "None False"
    assert _python(script, {"OTEL_TRACES_EXPORTER": "none"}).strip() == "None False"
    disabled = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}
    assert _python(script, disabled).strip() == "None False"


def test_asking_for_traces_without_the_extra_or_with_a_typo_says_so() -> None:
    script = (
        "import logging\n"
        "logging.basicConfig(format='%(levelname)s %(message)s')\n"
        "from flight_server.ops import Telemetry\n"
        "print(Telemetry().tracing)\n"
    )
    without_sdk = "import sys\nsys.modules['opentelemetry.sdk'] = None  # no otel extra\n"
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}
    missing = _python(without_sdk + script, endpoint)
    assert "WARNING OTEL_EXPORTER_OTLP_ENDPOINT asks for traces but the otel extra" in missing
    assert "pip install 'fw-flight-sql[otel]'" in missing
    typo = _python(script, {"OTEL_TRACES_EXPORTER": "consol"})
    assert "ERROR tracing off: OTEL_TRACES_EXPORTER names no installed exporter 'consol'" in typo
    assert [missing.split()[-1], typo.split()[-1]] == ["None", "None"]
