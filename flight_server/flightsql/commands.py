"""Packing and unpacking Flight SQL commands carried in ``google.protobuf.Any``."""

from __future__ import annotations

import pyarrow as pa
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from flight_server.flightsql import flight_sql_pb2

_TYPE_URL_PREFIX = "type.googleapis.com/"
_MESSAGES: dict[str, type[Message]] = {
    descriptor.full_name: getattr(flight_sql_pb2, name)
    for name, descriptor in flight_sql_pb2.DESCRIPTOR.message_types_by_name.items()
}


def pack(message: Message) -> bytes:
    """Serialize ``message`` inside an ``Any``, as Flight SQL descriptors and results carry it."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper.SerializeToString()


def unpack(data: bytes) -> Message:
    """Decode an ``Any``-wrapped Flight SQL message; malformed or unknown input is invalid."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except (DecodeError, RuntimeError) as exc:
        raise pa.ArrowInvalid(f"malformed Flight SQL command: {exc}") from None
    name = wrapper.type_url.removeprefix(_TYPE_URL_PREFIX)
    message_type = _MESSAGES.get(name)
    if message_type is None or not wrapper.type_url.startswith(_TYPE_URL_PREFIX):
        raise pa.ArrowNotImplementedError(f"unsupported command type {wrapper.type_url!r}")
    message = message_type()
    try:
        message.ParseFromString(wrapper.value)
    except (DecodeError, RuntimeError) as exc:
        raise pa.ArrowInvalid(f"malformed {name}: {exc}") from None
    return message


def decode(message_type: type[Message], data: bytes) -> Message:
    """Decode an action body that is either the bare message or an ``Any`` around it."""
    message = message_type()
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
        if wrapper.type_url.endswith("." + message_type.DESCRIPTOR.name):
            message.ParseFromString(wrapper.value)
            return message
    except (DecodeError, RuntimeError):
        pass  # not an Any: a bare message
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError) as exc:
        raise pa.ArrowInvalid(f"malformed {message_type.DESCRIPTOR.name}: {exc}") from None
    return message
