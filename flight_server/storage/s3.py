"""Amazon S3 and S3-compatible stores (MinIO, Ceph, moto) through s3fs.

Options (Flywheel storage-URL names): ``access_key_id``, ``secret_access_key``,
``session_token``, ``region``, ``endpoint_url``, ``addressing_style`` (``path`` for
stores that cannot do virtual-hosted buckets) and ``anon``. Without keys, boto's own
chain decides (environment, shared config files, container and instance roles).
"""

from __future__ import annotations

import logging

import fsspec
from s3fs import S3FileSystem

from flight_server.storage.base import (
    CallLimits,
    Location,
    StorageError,
    is_true,
    register_backend,
)

log = logging.getLogger(__name__)

KNOWN_OPTIONS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "region",
        "endpoint_url",
        "addressing_style",
        "anon",
    }
)


def open_s3(location: Location, limits: CallLimits) -> fsspec.AbstractFileSystem:
    """A fresh s3fs filesystem for one location's credentials and endpoint.

    ``skip_instance_cache``: fsspec's instance cache is keyed by the arguments,
    secrets included, and never evicts; the caller keeps filesystems instead.
    ``use_listings_cache=False``: s3fs's directory cache never expires by default, so
    new dataset versions would stay invisible; listings are cached above us, bounded.
    botocore's timeouts and retries follow ``limits`` and s3fs's own retry loop is off (it
    would multiply botocore's attempts), so a dead endpoint costs at most ``retries + 1``
    timeouts plus short back-offs.
    """
    options = location.options
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        log.warning("ignoring unknown s3 options for %s: %s", location.display(), unknown)
    key, secret = options.get("access_key_id"), options.get("secret_access_key")
    if bool(key) != bool(secret):
        raise StorageError(f"{location.display()}: access_key_id and secret_access_key go together")
    client_kwargs: dict[str, str] = {}
    if options.get("region"):
        client_kwargs["region_name"] = options["region"]
    config_kwargs: dict[str, object] = {
        "connect_timeout": limits.timeout_seconds,
        "read_timeout": limits.timeout_seconds,
        "retries": {"total_max_attempts": limits.retries + 1, "mode": "standard"},
    }
    if options.get("addressing_style"):
        config_kwargs["s3"] = {"addressing_style": options["addressing_style"]}
    filesystem = S3FileSystem(
        anon=is_true(options.get("anon")),
        key=key or None,
        secret=secret or None,
        token=options.get("session_token") or None,
        endpoint_url=options.get("endpoint_url") or None,
        client_kwargs=client_kwargs,
        config_kwargs=config_kwargs,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    filesystem.retries = 1  # one s3fs attempt: botocore already retries each request
    return filesystem


register_backend("s3", open_s3)
