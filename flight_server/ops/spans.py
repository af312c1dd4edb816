"""OpenTelemetry spans: one per Flight RPC, a child of the client's ``traceparent``, and one
per query, a child of the RPC that started it. Needs the ``otel`` extra.

Spans are started and ended by hand, never made current: pyarrow gives every entry from
C++ a fresh thread state, so a context set in a call's middleware would not reach its
handler (see calls.py). The SQL text is never recorded, as in the query log: its digest is.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import opentelemetry.trace as trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from flight_server import __version__

if TYPE_CHECKING:
    from flight_server.ops.calls import Call
    from flight_server.ops.streams import QueryRecord

__all__ = ["Span", "Tracing", "installed_provider", "provider_from_environment"]

FLIGHT_SERVICE = "arrow.flight.protocol.FlightService"
#: Statuses that mean the server failed, not the caller (OpenTelemetry's gRPC conventions).
SERVER_ERRORS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)
EXPORTER_GROUP = "opentelemetry_traces_exporter"
#: ``otlp`` is the gRPC exporter unless the protocol variables say HTTP.
OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


class Tracing:
    """Starts and ends the server's spans on one tracer provider."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._tracer = provider.get_tracer("flight_server", __version__)

    def start_call(self, method: str, headers: Mapping[str, list[str]]) -> Span:
        """The span of one RPC, in the trace the client's headers carry (if any)."""
        return self._tracer.start_span(
            f"{FLIGHT_SERVICE}/{method}",
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": FLIGHT_SERVICE, "rpc.method": method},
        )

    def end_call(self, call: Call, status: str) -> None:
        """Ends ``call``'s span with the status the client received."""
        span = call.span
        assert span is not None
        span.set_attribute("rpc.response.status_code", status)
        span.set_attribute("enduser.id", call.user)
        span.set_attribute("fw_flight_sql.query_id", call.query_id)
        if status in SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    def start_query(self, parent: Span | None, record: QueryRecord) -> Span:
        """The span of one query, a child of the call that started it."""
        return self._tracer.start_span(
            "query",
            context=trace.set_span_in_context(parent) if parent is not None else None,
            attributes={
                "db.system.name": "duckdb",
                "fw_flight_sql.query_id": record.query_id,
                "fw_flight_sql.sql_digest": record.digest,
            },
        )

    def end_query(self, span: Span, record: QueryRecord) -> None:
        """Ends a query's span with how it ended and what it sent."""
        span.set_attributes(
            {
                "fw_flight_sql.status": record.status,
                "fw_flight_sql.rows": record.rows,
                "fw_flight_sql.bytes": record.bytes,
            }
        )
        if record.status == "error":
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end()


def installed_provider() -> trace.TracerProvider | None:
    """The process's tracer provider, if something has set one."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


def provider_from_environment(names: Sequence[str], environ: Mapping[str, str]) -> TracerProvider:
    """An SDK provider exporting to ``names``, set as the process's (its other servers share it).

    The SDK and the exporters read the rest of the ``OTEL_*`` variables themselves
    (endpoint, headers, sampler, batch sizes, resource attributes).
    """
    exporters = [_exporter(name, environ) for name in names]
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "fw-flight-sql"}))
    provider = TracerProvider(resource=resource)  # flushed and shut down at exit
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "otlp":
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        if protocol.strip() not in OTLP_BY_PROTOCOL:
            known = ", ".join(OTLP_BY_PROTOCOL)
            raise ValueError(f"unknown OTLP protocol {protocol!r} (known: {known})")
        name = OTLP_BY_PROTOCOL[protocol.strip()]
    found = importlib.metadata.entry_points(group=EXPORTER_GROUP, name=name)
    if not found:
        known = ", ".join(
            sorted(e.name for e in importlib.metadata.entry_points(group=EXPORTER_GROUP))
        )
        raise ValueError(
            f"OTEL_TRACES_EXPORTER names no installed exporter {name!r} (known: {known})"
        )
    exporter_class = next(iter(found)).load()
    return exporter_class()
