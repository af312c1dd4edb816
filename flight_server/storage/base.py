"""The storage interface: a typed location and a registry of backends by storage type."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import fsspec

from flight_server.lru import LruCache
from flight_server.storage.secrets import remember

# Every spelling users and Flywheel have used, mapped to one canonical type.
_TYPE_ALIASES = {
    "s3": "s3",
    "gs": "gs",
    "gcs": "gs",
    "az": "az",
    "azure": "az",
    "abfs": "az",
    "abfss": "az",
    "fs": "fs",
    "local": "fs",
    "file": "fs",
}

# Schemes whose first path segment is the Azure account (Flywheel's form); adlfs's own
# ``abfs://container@account.../prefix`` form starts with the container instead.
_AZ_ACCOUNT_FIRST = {"az", "azure"}

# A query parameter starts at ``&name=``; any other ``&`` belongs to the value before it.
_PARAM_START = re.compile(r"&(?=[A-Za-z_][A-Za-z0-9_.-]*=)")

_TRUE = {"1", "true", "yes", "on"}


class StorageError(ValueError):
    """A location that cannot be understood or opened."""


@dataclass(frozen=True)
class CallLimits:
    """How long one storage request may take and how often a failed one is retried.

    Every backend gets the same bounds, so one slow or dead store costs a known time.
    """

    timeout_seconds: float = 10.0
    retries: int = 2


DEFAULT_LIMITS = CallLimits()


@dataclass(frozen=True)
class Location:
    """Where a dataset lives: storage type, bucket (or directory), prefix and backend options.

    ``options`` carries credentials and endpoints; it is excluded from ``repr`` so
    secrets never reach a log line. For ``az`` the bucket is the container and the
    account travels in ``options["account_name"]``.
    """

    type: str
    bucket: str
    prefix: str = ""
    options: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Whatever message later quotes one of these values, redaction will know it.
        remember(self.options)

    @property
    def root(self) -> str:
        """The dataset root as a path inside the filesystem (no protocol)."""
        parts = [self.bucket.rstrip("/"), self.prefix.strip("/")]
        return "/".join(p for p in parts if p) or "/"

    def display(self) -> str:
        """A URL for humans and logs: never contains options."""
        scheme = "file" if self.type == "fs" else self.type
        return f"{scheme}://{self.root}" if self.type != "fs" else f"file://{self.root}"


Opener = Callable[[Location, CallLimits], fsspec.AbstractFileSystem]
# Enough for one client per storage of a large site; the oldest unused one goes first.
_FILESYSTEMS: LruCache[tuple, fsspec.AbstractFileSystem] = LruCache(256)
_OPENERS: dict[str, Opener] = {}


def register_backend(storage_type: str, opener: Opener) -> None:
    """Register the function that opens filesystems of one canonical storage type."""
    _OPENERS[storage_type] = opener


def canonical_type(storage_type: str) -> str:
    """Map any accepted spelling (``gcs``, ``azure``, ``local``...) to the canonical one."""
    try:
        return _TYPE_ALIASES[storage_type.lower()]
    except KeyError:
        raise StorageError(f"unknown storage type {storage_type!r}") from None


def parse_query(query: str) -> dict[str, str]:
    """Split ``a=1&b=x/y+z==`` into literal values: no ``+`` or ``%`` decoding.

    Flywheel storage URLs do not URL-encode their values, and secrets, base64 and JSON
    contain ``/``, ``+``, ``=`` and even ``&``: only ``&`` followed by ``name=`` starts
    a new parameter, and only the first ``=`` of a parameter separates name and value.
    """
    if not query:
        return {}
    options: dict[str, str] = {}
    for part in _PARAM_START.split(query):
        name, _, value = part.partition("=")
        if name:
            options[name] = value
    return options


def is_true(value: str | None) -> bool:
    """Read a boolean option (``true``, ``1``, ``yes``, ``on``); absent means false."""
    return value is not None and value.strip().lower() in _TRUE


def parse_location(url: str, extra_options: Mapping[str, str] | None = None) -> Location:
    """Parse ``s3://bucket/prefix?key=value``, ``fs:///dir``, ``file:///dir`` or a bare path.

    ``az://account[.blob.core.windows.net]/container/prefix`` puts the container in
    ``bucket`` and the account in ``options["account_name"]``; a host outside
    ``*.core.windows.net`` also becomes ``endpoint_url``. ``abfs://container@account.host/prefix``
    (adlfs's form) is read too. Query values are taken literally (see :func:`parse_query`);
    ``extra_options`` win over the query, which wins over what the host implies.
    """
    if "://" not in url:
        return Location(type="fs", bucket=url.rstrip("/") or "/", options=dict(extra_options or {}))
    scheme, rest = url.split("://", 1)
    storage_type = canonical_type(scheme)
    path, _, query = rest.partition("?")
    options: dict[str, str] = {}
    if storage_type == "fs":
        bucket, prefix = path.rstrip("/") or "/", ""
    elif storage_type == "az":
        bucket, prefix = _split_azure(scheme.lower(), path, options)
    else:
        bucket, _, prefix = path.partition("/")
    if not bucket:
        raise StorageError(f"location {scheme}://{path} has no bucket")
    options.update(parse_query(query))
    options.update(extra_options or {})
    return Location(type=storage_type, bucket=bucket, prefix=prefix.strip("/"), options=options)


def _split_azure(scheme: str, path: str, options: dict[str, str]) -> tuple[str, str]:
    """Container and prefix of an Azure path; the account (and odd hosts) go to ``options``."""
    if scheme in _AZ_ACCOUNT_FIRST:
        host, _, path = path.partition("/")
    else:
        container_at_host, _, prefix = path.partition("/")
        container, _, host = container_at_host.rpartition("@")
        if not host or not container:
            return container_at_host, prefix
        path = f"{container}/{prefix}"
    account = host.split(".", 1)[0]
    if not account:
        raise StorageError(f"location {scheme}://{host}/{path} has no account")
    options["account_name"] = account
    if "." in host and not host.endswith(".core.windows.net"):
        options["endpoint_url"] = f"https://{host}"
    container, _, prefix = path.partition("/")
    return container, prefix


def open_location(
    location: Location, limits: CallLimits = DEFAULT_LIMITS
) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem that serves ``location``, reused while its options stay the same.

    Backends build filesystems without fsspec's unbounded instance and listing caches; this
    bounded cache keeps one client per (type, bucket, options), so a catalog refresh reuses
    connections and the engine keeps its registrations. Rotated credentials make a new key.
    Requests through it are bounded by ``limits`` (timeouts and retries).
    """
    key = (location.type, location.bucket, tuple(sorted(location.options.items())), limits)
    return _FILESYSTEMS.get_or_make(key, lambda: _open_uncached(location, limits))


def _open_uncached(location: Location, limits: CallLimits) -> fsspec.AbstractFileSystem:
    # Backends register themselves on import; importing on first use keeps start-up lazy.
    from flight_server.storage import backends

    if location.type not in _OPENERS:
        backends.load(location.type)
    try:
        opener = _OPENERS[location.type]
    except KeyError:
        raise StorageError(f"no backend for storage type {location.type!r}") from None
    return opener(location, limits)
