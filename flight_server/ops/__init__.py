"""Operations: the HTTP ops port (health, readiness, Prometheus metrics), query telemetry and
optional OpenTelemetry traces.

Hooks in from outside the protocol: a Flight server middleware sees every call, and the
engine hands every query it starts to ``Telemetry.watch``.
"""

from flight_server.ops.calls import CallMiddlewareFactory
from flight_server.ops.health import Readiness
from flight_server.ops.http import OpsServer
from flight_server.ops.telemetry import Telemetry

__all__ = ["CallMiddlewareFactory", "OpsServer", "Readiness", "Telemetry"]
