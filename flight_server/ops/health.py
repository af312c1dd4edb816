"""Liveness and readiness: may this pod be sent queries right now, and what is degraded?

A server serves what it could load: one broken project, dead store or unreachable
Flywheel site makes it *degraded* (said in ``/readyz``), not unready. Unready means it
cannot serve at all: the catalog is not loaded yet, the Flight SQL port is not open yet,
it is draining, or not one served dataset's storage answers (this pod has lost its
network, say).
"""

from __future__ import annotations

import threading
import time

from flight_server.catalog.model import Dataset
from flight_server.runtime import Runtime

# Readiness probes come every few seconds; one storage round trip per dataset per this
# many seconds keeps remote stores from being hammered.
STORAGE_CHECK_SECONDS = 10.0
# A probe waits this long for a storage check in progress, then answers from the last one:
# a dead store must not make the probe itself time out.
PROBE_WAIT_SECONDS = 2.0


class Readiness:
    """Ready when the catalog is loaded, the Flight SQL port is open, some dataset's storage
    answers, and not draining."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._serving = threading.Event()
        self._draining = threading.Event()
        self._lock = threading.Lock()
        self._storage_checked = -float("inf")
        self._unreachable: list[str] = []
        self._checked_count = 0
        self._checking: threading.Thread | None = None

    def serving(self) -> None:
        """The Flight SQL port accepts calls from now on. The catalog loads first, and opening
        the port after it takes tens of milliseconds: a probe that found the catalog loaded
        would send clients to a closed port meanwhile."""
        self._serving.set()

    def drain(self) -> None:
        """Report not ready from now on, so load balancers stop sending new calls."""
        self._draining.set()

    def problems(self) -> list[str]:
        """Why the server is not ready; empty when it is."""
        if self._draining.is_set():
            return ["shutting down"]
        if self._runtime.refreshed_at is None:
            return ["catalog not loaded yet"]
        if not self._serving.is_set():
            return ["Flight SQL port not open yet"]
        unreachable, checked = self._storage()
        return unreachable if checked and len(unreachable) == checked else []

    def degraded(self) -> dict[str, object]:
        """What is served short of the whole catalog: counts, and which stores do not answer."""
        snapshot = self._runtime.snapshot
        with self._lock:  # the last check's result: problems() has just run or started one
            unreachable = list(self._unreachable)
        return {
            "skipped": len(snapshot.skipped),
            "stale": sum(1 for d in (*snapshot.datasets, *snapshot.derived) if d.stale),
            "storage_unreachable": unreachable,
            "flywheel_site": self._runtime.site_problem,
        }

    def _storage(self) -> tuple[list[str], int]:
        """The last check's unreachable stores and how many datasets it checked."""
        with self._lock:
            due = time.monotonic() - self._storage_checked >= STORAGE_CHECK_SECONDS
            if due and self._checking is None:
                self._checking = threading.Thread(
                    target=self._run_check, name="readiness-storage", daemon=True
                )
                self._checking.start()
            checking = self._checking
        if checking is not None:
            checking.join(PROBE_WAIT_SECONDS)
        with self._lock:
            return list(self._unreachable), self._checked_count

    def _run_check(self) -> None:
        datasets = self._runtime.snapshot.datasets
        unreachable = self._check_storage(datasets)
        with self._lock:
            self._unreachable, self._checked_count = unreachable, len(datasets)
            self._storage_checked = time.monotonic()
            self._checking = None

    @staticmethod
    def _check_storage(datasets: tuple[Dataset, ...]) -> list[str]:
        problems = []
        for dataset in datasets:
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
