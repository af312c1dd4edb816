"""Flywheel storage records and storage-creds URLs, turned into Locations.

``GET /xfer/storages/{id}`` gives ``{_id, label, config: {type, bucket, prefix, ...}}``
and ``GET /xfer/storage-creds/{id}`` gives ``{"url": ...}`` with the secrets in an
un-encoded query (``s3://bucket/prefix?access_key_id=...&secret_access_key=...``,
``gs://...?application_credentials=...``, ``az://account/container/prefix?access_key=...``,
``fs:///path``). Nothing here ever puts a URL or an option value in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flight_server.storage.base import Location, StorageError, canonical_type, parse_location

# Non-secret settings a storage record's config may carry, passed on as options.
_CONFIG_OPTIONS = ("region", "endpoint_url", "addressing_style", "project", "account_name")


def parse_storage_url(url: str) -> Location:
    """The Location of a Flywheel storage-creds URL, its query as options."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise StorageError("a Flywheel storage URL needs a scheme (s3, gs, az, fs)")
    return parse_location(url)


def location_from_storage(record: Mapping[str, Any], creds_url: str | None = None) -> Location:
    """The Location of a Flywheel storage record, with credentials from its creds URL.

    The record's config gives type, bucket (``container`` for Azure, ``path`` for a
    local directory) and prefix; the creds URL gives the secrets and fills in whatever
    the config leaves out. Without a creds URL, the backend's environment chain applies.
    """
    config = record.get("config") or {}
    name = record.get("label") or record.get("_id") or "storage"
    creds = parse_storage_url(creds_url) if creds_url else None
    raw_type = config.get("type") or (creds.type if creds else "")
    if not raw_type:
        raise StorageError(f"storage {name!r} has no type")
    storage_type = canonical_type(str(raw_type))
    if creds and creds.type != storage_type:
        raise StorageError(f"storage {name!r} is {storage_type} but its credentials are not")
    bucket = config.get("bucket") or config.get("container") or config.get("path")
    bucket = str(bucket) if bucket else (creds.bucket if creds else "")
    if not bucket:
        raise StorageError(f"storage {name!r} has no bucket")
    prefix = config.get("prefix")
    prefix = str(prefix) if prefix is not None else (creds.prefix if creds else "")
    options = {key: str(config[key]) for key in _CONFIG_OPTIONS if config.get(key)}
    options.update(creds.options if creds else {})
    return Location(type=storage_type, bucket=bucket, prefix=prefix.strip("/"), options=options)
