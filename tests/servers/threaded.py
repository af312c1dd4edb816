"""The lifecycle shared by the in-process test servers: loopback, free port, daemon thread."""

from __future__ import annotations

import socketserver
import threading
from typing import Self


class ThreadedServer:
    """Serves ``_make_server()`` on 127.0.0.1:0 from a daemon thread; a context manager."""

    thread_name = "test-server"

    def __init__(self) -> None:
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> socketserver.BaseServer:
        """Bind the server to 127.0.0.1:0 (subclasses say which server)."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind and serve in a daemon thread; ready on return."""
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and release its port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"
