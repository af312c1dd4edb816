"""The whole server as one object: catalog, Flight SQL port and ops port, started and drained.

``cli.run_server`` adds signals around it; tests start it in-process on free ports.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from pathlib import Path

import pyarrow as pa

from flight_server.auth import ExposureError, check_exposure
from flight_server.auth.setup import anonymous_enabled
from flight_server.config import Settings, TlsSettings
from flight_server.configured_server import flight_sql_server
from flight_server.flightsql.server import FlightSqlServer
from flight_server.messages import first_line
from flight_server.ops import CallMiddlewareFactory, OpsServer, Readiness, Telemetry
from flight_server.runtime import Runtime
from flight_server.storage.secrets import redact

log = logging.getLogger(__name__)

# After the grace period, cancelled queries get this long to unwind before giving up.
CANCEL_SECONDS = 5.0


class StartupError(Exception):
    """The server cannot start; the message is one line for the operator."""


class Service:
    """Starts the ops port, loads the catalog, then opens the Flight port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        _check_exposure(settings)
        # Before the (maybe long) catalog load: gRPC itself reports a taken port only as
        # noise on stderr and "did not start properly".
        if settings.port and _port_taken(settings.host, settings.port):
            raise StartupError(
                f"cannot serve Flight SQL on {self._location}: address already in use"
            )
        # Files first: a missing certificate fails before anything listens.
        self._tls = _tls_options(settings.tls) if settings.tls else {}
        self.telemetry = Telemetry()
        try:
            self.runtime = Runtime(settings, self.telemetry.watch)
        except OSError as exc:  # the table cache's directory
            raise StartupError(first_line(exc)) from None
        self.readiness = Readiness(self.runtime)
        # The ops port comes first so probes can tell "starting" from "dead" during a long load.
        self.ops = self._start_ops() if settings.ops_port is not None else None
        try:
            self._load_catalog()
            self.flight = self._start_flight()
            self.readiness.serving()
            self.runtime.start_auto_refresh()
        except BaseException:
            if self.ops:
                self.ops.stop()
            raise

    @property
    def uri(self) -> str:
        """Where the Flight SQL port listens, with the port actually bound."""
        scheme = "grpc+tls" if self.settings.tls else "grpc"
        return f"{scheme}://{_url_host(self.settings.host)}:{self.flight.port}"

    def stop(self, grace_seconds: float) -> bool:
        """Drain: refuse new calls, let running queries finish, cancel the rest; True if clean."""
        self.runtime.stop()
        self.readiness.drain()
        self.flight.drain(grace_seconds)
        log.info(
            "shutting down: refusing new calls, %d running quer%s get %gs to finish",
            self.telemetry.active_streams,
            "y" if self.telemetry.active_streams == 1 else "ies",
            grace_seconds,
        )
        # shutdown() blocks until every call has returned, so it runs beside the clock.
        stopper = threading.Thread(target=self.flight.shutdown, name="flight-shutdown", daemon=True)
        stopper.start()
        stopper.join(grace_seconds)
        if stopper.is_alive():
            cancelled = self.telemetry.cancel_streams()
            log.warning("grace period over: cancelling %d running queries", cancelled)
            stopper.join(CANCEL_SECONDS)
        if self.ops:
            self.ops.stop()
        return not stopper.is_alive()

    def _start_ops(self) -> OpsServer:
        port = self.settings.ops_port or 0
        try:
            ops = OpsServer(self.runtime, self.telemetry, self.readiness, self.settings.host, port)
        except OSError as exc:
            raise StartupError(f"cannot listen on ops port {port}: {exc.strerror}") from None
        log.info("ops endpoints on http://%s:%d", _url_host(self.settings.host), ops.port)
        return ops

    def _load_catalog(self) -> None:
        try:
            self.runtime.refresh()
        except Exception as exc:  # every unit is isolated; what is left is the engine's
            raise StartupError(f"cannot load the catalog: {redact(first_line(exc))}") from None

    @property
    def _location(self) -> str:
        """The Flight location as configured (port 0 until bound)."""
        scheme = "grpc+tls" if self.settings.tls else "grpc"
        return f"{scheme}://{_url_host(self.settings.host)}:{self.settings.port}"

    def _start_flight(self) -> FlightSqlServer:
        location = self._location
        try:
            return flight_sql_server(
                self.runtime,
                location,
                middleware={"ops": CallMiddlewareFactory(self.telemetry)},
                **self._tls,
            )
        except (OSError, pa.ArrowException) as exc:
            reason = first_line(exc)
            raise StartupError(f"cannot serve Flight SQL on {location}: {reason}") from None


def _check_exposure(settings: Settings) -> None:
    """No anonymous callers on an address other machines reach, unless explicitly allowed."""
    try:
        check_exposure(
            settings.host,
            anonymous=anonymous_enabled(settings),
            allow_public_anonymous=settings.auth.allow_public_anonymous,
        )
    except ExposureError as exc:
        raise StartupError(str(exc)) from None


def _tls_options(tls: TlsSettings) -> dict[str, object]:
    """pyarrow's TLS arguments: the certificate pair, and the client CA for mutual TLS."""
    options: dict[str, object] = {"tls_certificates": [(_read(tls.cert_file), _read(tls.key_file))]}
    if tls.client_ca_file:
        options["verify_client"] = True
        options["root_certificates"] = _read(tls.client_ca_file)
    return options


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read {path}: {exc.strerror}") from None


def _port_taken(host: str, port: int) -> bool:
    """Whether another process listens on ``host:port`` (any address it resolves to)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return False  # let the server report what it makes of the host
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # As gRPC binds: a port held only by closed connections (TIME_WAIT) is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


def _url_host(host: str) -> str:
    """IPv6 literals go in brackets inside URLs."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
