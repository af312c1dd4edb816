"""The live state a server answers from: the current catalog snapshot and the engine showing it."""

from __future__ import annotations

import logging
import threading

from flight_server.catalog.model import Snapshot
from flight_server.catalog.static import load_static
from flight_server.config import Settings
from flight_server.engine import Engine, QueryContext

log = logging.getLogger(__name__)


class Runtime:
    """Loads datasets, publishes them to the engine, and says what a call's defaults are."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = Engine(settings.engine)
        self.snapshot = Snapshot()
        self._refresh_lock = threading.Lock()

    def refresh(self) -> Snapshot:
        """Reload every dataset and swap the new snapshot in whole."""
        with self._refresh_lock:
            snapshot = load_static(self.settings.datasets, self.settings.local_catalog)
            self.engine.publish(snapshot)
            self.snapshot = snapshot
        log.info(
            "serving %d dataset(s), %d skipped",
            len(snapshot.datasets),
            len(snapshot.skipped),
        )
        return snapshot

    def default_context(self) -> QueryContext:
        """Configured defaults, or the only dataset when exactly one is served."""
        if self.settings.default_catalog:
            return QueryContext(self.settings.default_catalog, self.settings.default_schema)
        if len(self.snapshot.datasets) == 1:
            only = self.snapshot.datasets[0]
            return QueryContext(only.catalog, only.name)
        return QueryContext()
