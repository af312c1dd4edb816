"""Turn the projects a Flywheel key can see into served datasets (catalog = group)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from flight_server.catalog.flywheel.client import FlywheelClient, FlywheelError
from flight_server.catalog.layout import LayoutError
from flight_server.catalog.model import Dataset, SkippedDataset, Snapshot
from flight_server.catalog.static import open_dataset
from flight_server.storage import Location, StorageError
from flight_server.storage.base import canonical_type
from flight_server.storage.flywheel_url import location_from_storage

log = logging.getLogger(__name__)

# Opening a dataset is mostly waiting on storage listings, so a few run at once.
_OPEN_CONCURRENCY = 8


def discover(client: FlywheelClient, *, exhaustive: bool = False) -> Snapshot:
    """Every project with ``info.dataset`` served as ``group.label``; broken ones skipped."""
    projects = client.projects(exhaustive=exhaustive)
    with ThreadPoolExecutor(_OPEN_CONCURRENCY) as pool:
        outcomes = list(pool.map(lambda p: _open_project(client, p), projects))
    datasets = tuple(o for o in outcomes if isinstance(o, Dataset))
    skipped = tuple(o for o in outcomes if isinstance(o, SkippedDataset))
    return Snapshot(datasets, skipped)


def _open_project(
    client: FlywheelClient, project: dict[str, Any]
) -> Dataset | SkippedDataset | None:
    """A project's dataset, why it cannot be served, or ``None`` when it has none."""
    group, label = str(project.get("group", "")), str(project.get("label", ""))
    project_id = str(project["_id"]) if project.get("_id") else None
    try:
        if "info" not in project:  # listings may omit custom info
            project = client.project(str(project["_id"]))
        info = (project.get("info") or {}).get("dataset")
        if not info:
            return None
        location = _location(client, info)
        return open_dataset(group, label, location, project_id)
    except (FlywheelError, StorageError, LayoutError, OSError, KeyError, TypeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("skipping Flywheel project %s/%s: %s", group, label, reason)
        return SkippedDataset(group, label, _info_display(project), reason, project_id)


def _location(client: FlywheelClient, info: dict[str, Any]) -> Location:
    """Where ``info.dataset`` points, with the options and secrets of its storage record.

    The dataset root is ``info.bucket/info.prefix``; the storage record (endpoint, region,
    account) and its creds URL (secrets) say how to reach it. Without a storage id the
    environment's credentials are used.
    """
    storage_type = canonical_type(str(info["type"]))
    bucket, prefix = str(info["bucket"]), str(info.get("prefix") or "")
    storage_id = info.get("storage_id")
    if not storage_id:
        return Location(storage_type, bucket, prefix)
    storage = location_from_storage(
        client.storage(str(storage_id)), client.storage_url(str(storage_id))
    )
    if storage.type != storage_type:
        raise StorageError(
            f"dataset type {storage_type} does not match its storage's {storage.type}"
        )
    return replace(storage, bucket=bucket, prefix=prefix.strip("/"))


def _info_display(project: dict[str, Any]) -> str:
    """Where a project's dataset claims to live, for the ``datasets`` listing (no secrets)."""
    info = (project.get("info") or {}).get("dataset") or {}
    return f"{info.get('type', '?')}://{info.get('bucket', '?')}/{info.get('prefix', '')}"
