"""Per-call bookkeeping: a Flight server middleware that times every RPC and names its query.

pyarrow runs a call's middleware and its handler on the same OS thread, but each entry
from C++ gets a fresh Python thread state, so ``threading.local`` and context variables
do not carry over; calls are found by thread id instead.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow.flight as flight

from flight_server.auth import admitted_caller
from flight_server.flightsql.status import wire_status

if TYPE_CHECKING:
    from flight_server.ops.spans import Span
    from flight_server.ops.telemetry import Telemetry

QUERY_ID_HEADER = "x-query-id"
ANONYMOUS = "anonymous"


def _next_call_id() -> str:
    """A call's id, which names it in logs and traces: it need not be secret, only unique.
    So 64 bits of Python's generator (seeded by the OS, and again in a forked child), not a
    system call for random bytes on every RPC, and no counter telling clients how busy the
    server is."""
    return f"{random.getrandbits(64):016x}"


@dataclass
class Call:
    """One RPC in progress: what the query log and metrics need to know about it."""

    method: str
    query_id: str = field(default_factory=_next_call_id)
    started: float = field(default_factory=time.perf_counter)
    #: The OS thread serving the call (pyarrow runs its middleware and handler there).
    thread: int = field(default_factory=threading.get_ident)
    #: The call's trace span, when tracing is on.
    span: Span | None = None

    @property
    def user(self) -> str:
        """Who the auth middleware let in on the call's thread (anonymous without it).

        Looked up, never stored when the call starts: pyarrow starts the factories in the
        order of the server's middleware dict, so ours may start before auth has decided.
        """
        caller = admitted_caller(self.thread)
        return caller.user if caller is not None else ANONYMOUS


_calls: dict[int, Call] = {}


def current_call() -> Call | None:
    """The call the current thread is serving, if any."""
    return _calls.get(threading.get_ident())


class _CallMiddleware(flight.ServerMiddleware):
    def __init__(self, call: Call, telemetry: Telemetry) -> None:
        self._call = call
        self._telemetry = telemetry
        self._thread = threading.get_ident()

    def sending_headers(self) -> dict[str, str]:
        return {QUERY_ID_HEADER: self._call.query_id}

    def call_completed(self, exception: BaseException | None) -> None:
        if _calls.get(self._thread) is self._call:
            del _calls[self._thread]
        elapsed = time.perf_counter() - self._call.started
        status = wire_status(exception)
        self._telemetry.record_call(self._call.method, status, elapsed)
        tracing = self._telemetry.tracing
        if tracing is not None and self._call.span is not None:
            tracing.end_call(self._call, status)


class CallMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Gives every call an id (sent back as ``x-query-id``), records its status and time, and
    traces it (a child of the client's ``traceparent``) when tracing is on."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[str]]
    ) -> flight.ServerMiddleware:
        call = Call(method=_METHOD_NAMES[info.method])
        tracing = self._telemetry.tracing
        if tracing is not None:
            call.span = tracing.start_call(call.method, headers)
        _calls[threading.get_ident()] = call
        return _CallMiddleware(call, self._telemetry)


def _method_name(method: flight.FlightMethod) -> str:
    """``FlightMethod.DO_GET`` -> ``DoGet``, the name the Flight protocol uses."""
    return "".join(part.capitalize() for part in method.name.split("_"))


_METHOD_NAMES = {method: _method_name(method) for method in flight.FlightMethod}
