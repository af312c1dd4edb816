"""A stream that ends while the server drains reaches a client that is slow at its end.

gRPC closes a connection the moment its last call ends after shutdown began. Bytes the
client sends after that close (its flow-control updates for what it has read) make the
kernel reset the connection and drop whatever the server had not yet delivered: the
stream's tail and its status. A client that stalls for a moment just then (a busy
machine, a slow link) lost the end of its result ("connection reset by peer" after the
server's GOAWAY). The proxy here plays that client.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql

from tests.e2e.test_lifecycle import (
    _ADBC_CLOSE_NOISE,
    _close_after_shutdown,
    _serve,
    _wait_for_line,
)

ROWS = 3_000_000
# The part of the result still to come when the client stalls: more than one batch, less
# than what the server can write ahead under flow control, so the server ends the stream.
TAIL_BYTES = 512 * 1024
STALL_SECONDS = 0.5
# After the stall the tail trickles in, as over a slow link (bytes per second).
SLOW_RATE = 4e6


class StallingProxy:
    """Relays connections to ``port``. Once armed, when the server's bytes pass
    ``stall_at``, it relays nothing for ``STALL_SECONDS``; then the client's bytes go on
    and, a moment later, the server's, slowly: a client briefly stalled at its stream's end.

    Its socket towards the server has a small receive buffer, so the tail waits in the
    server's kernel, as it does for a client that stopped reading.
    """

    def __init__(self, port: int, stall_at: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = port
        self._stall_at = stall_at
        self._relayed = 0
        self._armed = False
        self.stalled = False
        self._to_server = threading.Event()
        self._to_client = threading.Event()
        self._to_server.set()
        self._to_client.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        self._armed = True

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            try:
                server.connect(("127.0.0.1", self._target))
            except OSError:  # the server has stopped: refuse the client too
                client.close()
                continue
            pair = (client, server)
            threading.Thread(target=self._pipe, args=(pair, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(pair, True), daemon=True).start()

    def _pipe(self, pair: tuple[socket.socket, socket.socket], from_server: bool) -> None:
        client, server = pair
        source, sink = (server, client) if from_server else (client, server)
        flowing = self._to_client if from_server else self._to_server
        try:
            while data := source.recv(65536):
                if from_server:
                    self._count(len(data))
                flowing.wait()
                sink.sendall(data)
                if from_server and self.stalled:
                    time.sleep(len(data) / SLOW_RATE)
        except OSError:
            pass  # a reset: the client loses the connection as it would without a proxy
        finally:
            for end in pair:  # wakes the other direction's recv
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def _count(self, size: int) -> None:
        self._relayed += size
        if self._armed and not self.stalled and self._relayed >= self._stall_at:
            self.stalled = True
            self._to_client.clear()
            self._to_server.clear()
            threading.Timer(STALL_SECONDS, self._to_server.set).start()
            threading.Timer(STALL_SECONDS + 0.1, self._to_client.set).start()


@_ADBC_CLOSE_NOISE
def test_a_stream_ending_during_the_drain_reaches_a_client_stalled_at_its_end() -> None:
    with _serve(grace="60") as (uri, process):
        lines: list[str] = []
        proxy = StallingProxy(int(uri.rsplit(":", 1)[1]), ROWS * 8 - TAIL_BYTES)
        conn = flight_sql.connect(f"grpc://127.0.0.1:{proxy.port}")
        cursor = conn.cursor()
        cursor.execute(f"SELECT range AS i FROM range({ROWS})")
        reader = cursor.fetch_record_batch()
        rows = reader.read_next_batch().num_rows

        process.send_signal(signal.SIGTERM)
        _wait_for_line(process, "shutting down", lines)
        proxy.arm()
        rows += sum(batch.num_rows for batch in reader)
        _close_after_shutdown(cursor, conn)
        assert process.wait(timeout=60) == 0

    assert proxy.stalled, "the proxy never stalled: the test did not test anything"
    assert rows == ROWS
