"""While the server drains, a stream's call stays open a moment after its last batch.

Once shutdown has begun, gRPC closes a connection the moment its last call ends. A client
a little behind (a busy machine, a slow link) is still reading that call's tail and sends
flow-control updates for what it reads; they reach a closed socket, the kernel answers
with a reset and drops what it had not yet delivered: the end of the result and the
call's status. The client sees "connection reset by peer" on a stream the server
finished. Holding the call open briefly before it ends lets such a client read to the end
first; the status and the close then follow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight

#: How long an ending stream's call stays open while draining (never past the grace period).
LINGER_SECONDS = 2.0
_POLL_SECONDS = 0.05


class Drain:
    """Whether the server is draining, and until when streams may linger."""

    def __init__(self) -> None:
        self._until: float | None = None

    def begin(self, grace_seconds: float) -> None:
        """From now on, streams that end linger, at most until the grace period ends."""
        self._until = time.monotonic() + grace_seconds

    def lingering(
        self, context: flight.ServerCallContext, batches: Iterator[pa.RecordBatch]
    ) -> Iterator[pa.RecordBatch]:
        """``batches``, then, if the server is draining by their end, a short linger."""
        yield from batches
        self._linger(context)

    def _linger(self, context: flight.ServerCallContext) -> None:
        if self._until is None:
            return
        until = min(self._until, time.monotonic() + LINGER_SECONDS)
        while time.monotonic() < until and not context.is_cancelled():
            time.sleep(_POLL_SECONDS)
