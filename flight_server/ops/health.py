"""Liveness and readiness: may this pod be sent queries right now?"""

from __future__ import annotations

import threading
import time

from flight_server.runtime import Runtime

# Readiness probes come every few seconds; one storage round trip per dataset per this
# many seconds keeps remote stores from being hammered.
STORAGE_CHECK_SECONDS = 10.0


class Readiness:
    """Ready when the catalog is loaded, every dataset's storage answers, and not draining."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._draining = threading.Event()
        self._lock = threading.Lock()
        self._storage_checked = -float("inf")
        self._storage_problems: list[str] = []

    def drain(self) -> None:
        """Report not ready from now on, so load balancers stop sending new calls."""
        self._draining.set()

    def problems(self) -> list[str]:
        """Why the server is not ready; empty when it is."""
        if self._draining.is_set():
            return ["shutting down"]
        if self._runtime.refreshed_at is None:
            return ["catalog not loaded yet"]
        return self._storage()

    def _storage(self) -> list[str]:
        with self._lock:
            if time.monotonic() - self._storage_checked >= STORAGE_CHECK_SECONDS:
                self._storage_problems = self._check_storage()
                self._storage_checked = time.monotonic()
            return list(self._storage_problems)

    def _check_storage(self) -> list[str]:
        problems = []
        for dataset in self._runtime.snapshot.datasets:
            name = f"{dataset.catalog}.{dataset.name}"
            try:
                reachable = dataset.filesystem.exists(dataset.location.root)
            except Exception as exc:  # any backend failure means "not reachable"
                # The class only: backend messages may quote endpoints or credentials.
                problems.append(f"storage of {name} unreachable ({type(exc).__name__})")
                continue
            if not reachable:
                problems.append(f"storage of {name} unreachable (root missing)")
        return problems
