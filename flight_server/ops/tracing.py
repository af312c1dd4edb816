"""Whether the server traces, decided once per server from the standard ``OTEL_*`` variables.

Tracing is on when the ``otel`` extra is installed and either the process already has a
tracer provider (``opentelemetry-instrument``, an embedding application, a test) or
``OTEL_TRACES_EXPORTER`` / an OTLP endpoint variable asks for traces. Off, no span is
made and OpenTelemetry is not even imported.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flight_server.ops.spans import Tracing

log = logging.getLogger(__name__)

EXPORTER_VARIABLE = "OTEL_TRACES_EXPORTER"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def start_tracing(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """The server's tracer, or None when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = exporter_names(environ)
    # A provider set by someone else means they imported OpenTelemetry first.
    if not names and "opentelemetry.trace" not in sys.modules:
        return None
    try:
        from flight_server.ops.spans import Tracing, installed_provider, provider_from_environment
    except ImportError as exc:
        if names:
            log.warning(
                "%s asks for traces but the otel extra is not installed (%s): "
                "pip install 'fw-flight-sql[otel]'",
                next(v for v in (EXPORTER_VARIABLE, *ENDPOINT_VARIABLES) if environ.get(v)),
                exc.name,
            )
        return None
    provider = installed_provider()
    if provider is None and names:
        try:
            provider = provider_from_environment(names, environ)
        except (ValueError, ImportError) as exc:  # tracing is optional: the server still serves
            log.error("tracing off: %s", exc)
            return None
    return Tracing(provider) if provider is not None else None


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters asked for: ``OTEL_TRACES_EXPORTER``, else OTLP if an endpoint is set."""
    listed = environ.get(EXPORTER_VARIABLE)
    if listed is None:
        return ["otlp"] if any(environ.get(v) for v in ENDPOINT_VARIABLES) else []
    return [name for part in listed.split(",") if (name := part.strip()) and name != "none"]
