"""Endpoint locations: round-robin over the advertised replicas, the others as fallbacks."""

from __future__ import annotations

import pyarrow.flight as flight
import pytest

from flight_server.config import ConfigError, load_settings
from flight_server.flightsql.locations import with_locations

A, B, C = "grpc://a:32010", "grpc://b:32010", "grpc+tls://c:32010"


def first_locations(endpoints: list[flight.FlightEndpoint]) -> list[str]:
    return [endpoint.locations[0].uri.decode() for endpoint in endpoints]


def test_without_advertised_locations_endpoints_are_unchanged() -> None:
    endpoints = [flight.FlightEndpoint(b"t1", []), flight.FlightEndpoint(b"t2", [])]
    assert with_locations(endpoints, []) == endpoints


def test_endpoints_take_the_replicas_in_turn_with_the_others_after() -> None:
    endpoints = [flight.FlightEndpoint(f"t{i}".encode(), []) for i in range(4)]
    located = with_locations(endpoints, [A, B, C], first=1)
    assert first_locations(located) == [B, C, A, B]
    assert [location.uri.decode() for location in located[1].locations] == [C, A, B]
    assert [endpoint.ticket for endpoint in located] == [e.ticket for e in endpoints]


def test_advertised_locations_are_flight_uris() -> None:
    assert load_settings(advertised_locations=[A, C]).advertised_locations == [A, C]
    for bad in ("a:32010", "http://a:32010", "grpc://a"):
        with pytest.raises(ConfigError, match=r"advertised_locations\.0: .*not a Flight URI"):
            load_settings(advertised_locations=[bad])
