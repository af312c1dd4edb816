"""Where clients redeem tickets: endpoints spread over the advertised replicas.

Tickets are signed with the secret replicas share and carry everything needed to serve
them, so any replica serves any endpoint. Endpoint ``i`` of a FlightInfo names replica
``first + i`` (mod their number) first and the others after it, in turn: clients dial the
first location (ADBC tries the next ones when a dial fails), so a partitioned read
spreads over every replica while each endpoint keeps fallbacks. The server moves
``first`` on with each FlightInfo, so single-endpoint queries spread too.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow.flight as flight


def with_locations(
    endpoints: Sequence[flight.FlightEndpoint], advertised: Sequence[str], first: int = 0
) -> list[flight.FlightEndpoint]:
    """``endpoints`` naming the advertised locations, round-robin; unchanged without any."""
    if not advertised:
        return list(endpoints)
    count = len(advertised)
    return [
        flight.FlightEndpoint(
            endpoint.ticket,
            [advertised[(first + index + step) % count] for step in range(count)],
            endpoint.expiration_time,
            endpoint.app_metadata,
        )
        for index, endpoint in enumerate(endpoints)
    ]
