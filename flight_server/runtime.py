"""The live state a server answers from: the current catalog snapshot and the engine showing it."""

from __future__ import annotations

import logging
import threading
import time

from flight_server.catalog.federated import ProjectLookup, federate
from flight_server.catalog.flywheel.api_key import parse_api_key
from flight_server.catalog.flywheel.client import FlywheelClient, FlywheelError
from flight_server.catalog.flywheel.discovery import discover
from flight_server.catalog.model import Snapshot
from flight_server.catalog.names import without_clashes
from flight_server.catalog.static import load_static
from flight_server.config import Settings
from flight_server.engine import Engine, QueryContext
from flight_server.engine.duckdb_engine import (
    RESERVED_CATALOGS,
    RESERVED_SCHEMAS,
    ExecutionWatch,
    unwatched,
)

log = logging.getLogger(__name__)


class Runtime:
    """Loads datasets, publishes them to the engine, and says what a call's defaults are.

    A refresh builds a whole new snapshot and swaps it in; readers never see a
    half-loaded catalog, and queries already running keep the files they bound.
    """

    def __init__(self, settings: Settings, watch: ExecutionWatch = unwatched) -> None:
        self.settings = settings
        self.engine = Engine(settings.engine, watch)
        self.snapshot = Snapshot()
        self.refreshed_at: float | None = None
        self.refresh_failures = 0
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._flywheel = (
            FlywheelClient(
                parse_api_key(settings.flywheel.api_key.get_secret_value()),
                timeout=settings.flywheel.timeout_seconds,
            )
            if settings.flywheel.api_key
            else None
        )

    def refresh(self) -> Snapshot:
        """Reload every dataset source and swap the new snapshot in whole."""
        with self._refresh_lock:
            snapshot = load_static(self.settings.datasets, self.settings.local_catalog)
            if self._flywheel is not None:
                found = discover(self._flywheel, exhaustive=self.settings.flywheel.exhaustive)
                snapshot = merge(snapshot, found)
            snapshot = federate(snapshot, self.settings.federated, self._project_lookup())
            snapshot = without_clashes(snapshot, RESERVED_CATALOGS, RESERVED_SCHEMAS)
            self.engine.publish(snapshot)
            self.snapshot = snapshot
            self.refreshed_at = time.time()
        log.info(
            "serving %d dataset(s), %d federated, %d skipped",
            len(snapshot.datasets),
            len(snapshot.derived),
            len(snapshot.skipped),
        )
        return snapshot

    def _project_lookup(self) -> ProjectLookup | None:
        """Resolves federated centres given as Flywheel project ids (None without Flywheel)."""
        client = self._flywheel
        if client is None:
            return None

        def lookup(project_id: str) -> tuple[str, str]:
            try:
                project = client.project(project_id)
            except FlywheelError as exc:
                raise LookupError(str(exc)) from None
            return str(project.get("group", "")), str(project.get("label", ""))

        return lookup

    def start_auto_refresh(self) -> threading.Thread | None:
        """Refresh every ``refresh_seconds`` in the background (not at all when it is 0)."""
        interval = self.settings.refresh_seconds
        if interval <= 0:
            return None
        thread = threading.Thread(target=self._refresh_forever, args=(interval,), daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop background work: refreshing, and copying tables into the engine's cache."""
        self._stop.set()
        self.engine.close()

    def _refresh_forever(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception as exc:  # whatever failed, this thread must outlive it
                # Keep serving the last good snapshot; the failure shows in logs and metrics.
                self.refresh_failures += 1
                log.error("catalog refresh failed, keeping the previous catalog: %s", exc)

    def default_context(self) -> QueryContext:
        """Configured defaults, or the only dataset when exactly one is served."""
        if self.settings.default_catalog:
            return QueryContext(self.settings.default_catalog, self.settings.default_schema)
        if len(self.snapshot.datasets) == 1:
            only = self.snapshot.datasets[0]
            return QueryContext(only.catalog, only.name)
        return QueryContext()


def merge(first: Snapshot, second: Snapshot) -> Snapshot:
    """Both snapshots' datasets, ``first``'s ahead (so they keep a name both use)."""
    return Snapshot((*first.datasets, *second.datasets), (*first.skipped, *second.skipped))
