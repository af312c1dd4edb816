"""The live state a server answers from: the current catalog snapshot and the engine showing it."""

from __future__ import annotations

import logging
import threading
import time

from flight_server.catalog.federated import ProjectLookup, federate
from flight_server.catalog.flywheel.discovery import DiscoveryPolicy, discover
from flight_server.catalog.flywheel.roots import RootAllowlist
from flight_server.catalog.isolation import Skip, describe, isolated
from flight_server.catalog.last_good import keep_last_good, stale_projects
from flight_server.catalog.loading import LoadedTables
from flight_server.catalog.local_roots import configured_local_roots
from flight_server.catalog.model import Snapshot
from flight_server.catalog.names import without_clashes
from flight_server.catalog.reuse import LoadMemo
from flight_server.catalog.static import load_static
from flight_server.config import Settings
from flight_server.engine import Engine, QueryContext
from flight_server.engine.duckdb_engine import (
    RESERVED_CATALOGS,
    RESERVED_SCHEMAS,
    ExecutionWatch,
    unwatched,
)
from flight_server.engine.guard import StatementBounds
from flight_server.flywheel.api_key import parse_api_key
from flight_server.flywheel.client import FlywheelClient, FlywheelError
from flight_server.storage.base import CallLimits

log = logging.getLogger(__name__)


class Runtime:
    """Loads datasets, publishes them to the engine, and says what a call's defaults are.

    A refresh builds a whole new snapshot and swaps it in; readers never see a
    half-loaded catalog, and queries already running keep the files they bound.
    """

    def __init__(self, settings: Settings, watch: ExecutionWatch = unwatched) -> None:
        self.settings = settings
        self.engine = Engine(
            settings.engine,
            watch,
            local_roots=configured_local_roots(settings.datasets),
            bounds=StatementBounds(settings.limits.max_sql_nodes, settings.limits.max_sql_selects),
        )
        self.snapshot = Snapshot()
        self.refreshed_at: float | None = None
        self.refresh_failures = 0
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._flywheel = (
            FlywheelClient(
                parse_api_key(settings.flywheel.api_key.get_secret_value()),
                timeout=settings.flywheel.timeout_seconds,
                retries=settings.flywheel.retries,
            )
            if settings.flywheel.api_key
            else None
        )
        self._allowed_roots = RootAllowlist(settings.flywheel.allowed_roots)
        #: What the last refresh built, so that unchanged datasets are not read again.
        self._memo = LoadMemo(LoadedTables(settings.limits.loaded_files))
        #: The snapshot last handed to the engine; None before the first refresh.
        self._published: Snapshot | None = None
        #: Why the Flywheel site could not be listed at the last refresh; None when it was.
        self.site_problem: str | None = None

    def refresh(self) -> Snapshot:
        """Reload every dataset source and swap the new snapshot in whole.

        Every unit loads behind its own boundary and deadline, so a refresh always ends
        with what could be loaded; a dataset that served before and fails now keeps its
        last good state, marked stale. Datasets whose listings did not change come back as
        the same objects; when nothing changed at all, the engine is left as it is.
        """
        with self._refresh_lock:
            settings, previous = self.settings, self.snapshot
            limits = CallLimits(settings.storage.timeout_seconds, settings.storage.retries)
            timeout = settings.storage.load_timeout_seconds
            snapshot = load_static(
                settings.datasets, settings.local_catalog, limits, timeout, self._memo
            )
            if self._flywheel is not None:
                snapshot = merge(snapshot, self._discover(self._flywheel, previous, limits))
            snapshot = keep_last_good(snapshot, previous)
            snapshot = federate(
                snapshot, settings.federated, self._project_lookup(), limits, timeout
            )
            snapshot = keep_last_good(snapshot, previous)
            snapshot = without_clashes(snapshot, RESERVED_CATALOGS, RESERVED_SCHEMAS)
            if self._published is None or not unchanged(snapshot, self._published):
                self.engine.publish(snapshot)
                self._published = snapshot
            else:
                self.engine.republish()
            self.snapshot = snapshot
            self._memo.refreshed()
            self.refreshed_at = time.time()
        log.info(
            "serving %d dataset(s), %d federated, %d skipped, %d stale",
            len(snapshot.datasets),
            len(snapshot.derived),
            len(snapshot.skipped),
            sum(1 for d in (*snapshot.datasets, *snapshot.derived) if d.stale),
        )
        return snapshot

    def loaded_files(self) -> int:
        """Files of the tables whose footers are loaded now (``catalog.loading``)."""
        return self._memo.loaded.held_files()

    def _discover(self, client: FlywheelClient, previous: Snapshot, limits: CallLimits) -> Snapshot:
        """The site's projects; if the site cannot be listed, the last good ones, stale."""
        flywheel = self.settings.flywheel
        policy = DiscoveryPolicy(
            limits, self.settings.storage.load_timeout_seconds, self._allowed_roots, self._memo
        )
        found = isolated(
            "Flywheel site",
            client.site,
            lambda: discover(client, exhaustive=flywheel.exhaustive, policy=policy),
        )
        self.site_problem = found.reason if isinstance(found, Skip) else None
        return stale_projects(previous, found.reason) if isinstance(found, Skip) else found

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
                log.error("catalog refresh failed, keeping the previous catalog: %s", describe(exc))

    def default_context(self) -> QueryContext:
        """Configured defaults, or the only dataset when exactly one is served."""
        if self.settings.default_catalog:
            return QueryContext(self.settings.default_catalog, self.settings.default_schema)
        if len(self.snapshot.datasets) == 1:
            only = self.snapshot.datasets[0]
            return QueryContext(only.catalog, only.name)
        return QueryContext()


def unchanged(current: Snapshot, previous: Snapshot) -> bool:
    """Whether ``current`` serves exactly what ``previous`` did: the same dataset objects
    (a reused dataset is the very object, see ``catalog.reuse``), skips and derived schemas.
    """
    return (
        len(current.datasets) == len(previous.datasets)
        and all(a is b for a, b in zip(current.datasets, previous.datasets, strict=True))
        and current.skipped == previous.skipped
        and current.derived == previous.derived
    )


def merge(first: Snapshot, second: Snapshot) -> Snapshot:
    """Both snapshots' datasets, ``first``'s ahead (so they keep a name both use)."""
    return Snapshot((*first.datasets, *second.datasets), (*first.skipped, *second.skipped))
