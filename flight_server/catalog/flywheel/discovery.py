"""Turn the projects a Flywheel key can see into served datasets (catalog = group)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from flight_server.catalog.flywheel.roots import RootAllowlist
from flight_server.catalog.isolation import LOAD_CONCURRENCY, Skip, run_units
from flight_server.catalog.model import Dataset, SkippedDataset, Snapshot
from flight_server.catalog.reuse import LoadMemo
from flight_server.catalog.static import DEFAULT_LOAD_SECONDS, open_dataset
from flight_server.config import ENVIRONMENT_ROOTS
from flight_server.flywheel.client import FlywheelClient
from flight_server.storage import Location, StorageError
from flight_server.storage.base import DEFAULT_LIMITS, CallLimits, canonical_type
from flight_server.storage.flywheel_url import location_from_storage
from flight_server.storage.secrets import redact


@dataclass(frozen=True)
class DiscoveryPolicy:
    """How discovery may reach storage: call bounds, a deadline per project, allowed roots,
    and what the last refresh built (reused where a project's listing is unchanged)."""

    limits: CallLimits = DEFAULT_LIMITS
    timeout: float = DEFAULT_LOAD_SECONDS
    roots: RootAllowlist = field(default_factory=lambda: RootAllowlist(None))
    memo: LoadMemo | None = None


def discover(
    client: FlywheelClient, *, exhaustive: bool = False, policy: DiscoveryPolicy | None = None
) -> Snapshot:
    """Every project with ``info.dataset`` served as ``group.label``; broken ones skipped.

    Each project loads on its own, behind the boundary and the per-project deadline; only
    the project listing itself failing fails discovery (the caller's boundary handles it).
    """
    policy = policy or DiscoveryPolicy()
    projects = [p for p in client.projects(exhaustive=exhaustive) if isinstance(p, dict)]
    outcomes = run_units(
        "project",
        [(_name(p), lambda p=p: _open_project(client, p, policy)) for p in projects],
        concurrency=LOAD_CONCURRENCY,
        timeout=policy.timeout,
    )
    datasets: list[Dataset] = []
    skipped: list[SkippedDataset] = []
    for project, outcome in zip(projects, outcomes, strict=True):
        if isinstance(outcome, Dataset):
            datasets.append(outcome)
        elif isinstance(outcome, Skip):
            group, label = _group_label(project)
            where = _info_display(project)
            skipped.append(SkippedDataset(group, label, where, outcome.reason, _id(project)))
    return Snapshot(tuple(datasets), tuple(skipped))


def _open_project(
    client: FlywheelClient, project: dict[str, Any], policy: DiscoveryPolicy
) -> Dataset | None:
    """A project's dataset, or ``None`` when it has none; raises when it cannot be served."""
    group, label = _group_label(project)
    if "info" not in project:  # listings may omit custom info
        project = client.project(str(project["_id"]))
    info = (project.get("info") or {}).get("dataset")
    if not info:
        return None
    if not isinstance(info, dict):
        raise StorageError("info.dataset is not an object")
    location = _location(client, info, policy.roots)
    return open_dataset(group, label, location, _id(project), policy.limits, policy.memo)


def _location(client: FlywheelClient, info: dict[str, Any], roots: RootAllowlist) -> Location:
    """Where ``info.dataset`` points, with the options and secrets of its storage record.

    The dataset root is ``info.bucket/info.prefix``; the storage record (endpoint, region,
    account) and its creds URL (secrets) say how to reach it. Without a storage id the
    environment's credentials are used. A root outside the allowed ones is refused before
    any storage is contacted.
    """
    storage_type = canonical_type(str(info["type"]))
    bucket, prefix = str(info["bucket"]), str(info.get("prefix") or "")
    storage_id = info.get("storage_id")
    if not storage_id:
        location = Location(storage_type, bucket, prefix.strip("/"))
        roots.check(ENVIRONMENT_ROOTS, location)
        return location
    storage = location_from_storage(
        client.storage(str(storage_id)), client.storage_url(str(storage_id))
    )
    if storage.type != storage_type:
        raise StorageError(
            f"dataset type {storage_type} does not match its storage's {storage.type}"
        )
    location = replace(storage, bucket=bucket, prefix=prefix.strip("/"))
    roots.check(str(storage_id), location)
    return location


def _group_label(project: dict[str, Any]) -> tuple[str, str]:
    return str(project.get("group", "")), str(project.get("label", ""))


def _id(project: dict[str, Any]) -> str | None:
    return str(project["_id"]) if project.get("_id") else None


def _name(project: dict[str, Any]) -> str:
    group, label = _group_label(project)
    return f"{group}/{label}"


def _info_display(project: dict[str, Any]) -> str:
    """Where a project's dataset claims to live, for the ``datasets`` listing (no secrets)."""
    info = (project.get("info") or {}).get("dataset") or {}
    if not isinstance(info, dict):
        return "?"
    where = f"{info.get('type', '?')}://{info.get('bucket', '?')}/{info.get('prefix', '')}"
    return redact(where)
