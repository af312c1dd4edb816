"""The Flight SQL server as the settings configure it: who may call, and the signing secret.

The server itself is given its authenticator and ticket signer; this is the one place
that builds them from settings, for the service and for tests that serve in-process.
"""

from __future__ import annotations

from typing import Protocol

from flight_server.auth.setup import build_authenticator, signing_secret
from flight_server.config import Settings
from flight_server.flightsql.backend import Backend
from flight_server.flightsql.server import FlightSqlServer
from flight_server.flightsql.tickets import TicketSigner


class ConfiguredBackend(Backend, Protocol):
    """A backend that also holds the settings it was built from (``Runtime``)."""

    @property
    def settings(self) -> Settings: ...


def flight_sql_server(
    backend: ConfiguredBackend, location: str, **kwargs: object
) -> FlightSqlServer:
    """The Flight SQL server over ``backend``, authenticating and signing as configured.

    ``kwargs`` go to ``FlightSqlServer`` (middleware, TLS options); an auth middleware
    given there replaces the configured authenticator.
    """
    settings = backend.settings
    # Without a shared secret each process signs its own tickets and bearer tokens: fine
    # for one server, while replicas behind a load balancer must share auth.token_secret.
    secret = signing_secret(settings)
    return FlightSqlServer(
        backend,
        location,
        limits=settings.limits,
        signer=TicketSigner(secret, settings.auth.ticket_ttl_seconds),
        authenticator=build_authenticator(settings, secret),
        advertised_locations=settings.advertised_locations,
        **kwargs,
    )
