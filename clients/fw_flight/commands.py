"""The one Flight SQL command the readers send, encoded here so the client needs no
protobuf bindings: ``CommandStatementQuery`` (field 1, the query) in its ``Any`` wrapper
(field 1, the type URL; field 2, the message). Field numbers are the spec's."""

from __future__ import annotations

import pyarrow.flight as flight

_STATEMENT_QUERY = "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"


def statement_descriptor(sql: str) -> flight.FlightDescriptor:
    """The descriptor GetFlightInfo takes to plan ``sql``."""
    query = _field(1, sql.encode())
    return flight.FlightDescriptor.for_command(
        _field(1, _STATEMENT_QUERY.encode()) + _field(2, query)
    )


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
