"""The storage interface: a typed location and a registry of backends by storage type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import fsspec

# Every spelling users and Flywheel have used, mapped to one canonical type.
_TYPE_ALIASES = {
    "s3": "s3",
    "gs": "gs",
    "gcs": "gs",
    "az": "az",
    "azure": "az",
    "abfs": "az",
    "fs": "fs",
    "local": "fs",
    "file": "fs",
}


class StorageError(ValueError):
    """A location that cannot be understood or opened."""


@dataclass(frozen=True)
class Location:
    """Where a dataset lives: storage type, bucket (or directory), prefix and backend options.

    ``options`` carries credentials and endpoints; it is excluded from ``repr`` so
    secrets never reach a log line.
    """

    type: str
    bucket: str
    prefix: str = ""
    options: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def root(self) -> str:
        """The dataset root as a path inside the filesystem (no protocol)."""
        parts = [self.bucket.rstrip("/"), self.prefix.strip("/")]
        return "/".join(p for p in parts if p) or "/"

    def display(self) -> str:
        """A URL for humans and logs: never contains options."""
        scheme = "file" if self.type == "fs" else self.type
        return f"{scheme}://{self.root}" if self.type != "fs" else f"file://{self.root}"


Opener = Callable[[Location], fsspec.AbstractFileSystem]
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


def parse_location(url: str, extra_options: Mapping[str, str] | None = None) -> Location:
    """Parse ``s3://bucket/prefix?key=value``, ``file:///dir`` or a bare local path.

    Query values are taken literally (Flywheel storage URLs do not URL-encode them).
    """
    if "://" not in url:
        return Location(type="fs", bucket=url.rstrip("/") or "/", options=dict(extra_options or {}))
    scheme, rest = url.split("://", 1)
    storage_type = canonical_type(scheme)
    path, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    options.update(extra_options or {})
    if storage_type == "fs":
        return Location(type="fs", bucket=urlsplit(url).path.rstrip("/") or "/", options=options)
    bucket, _, prefix = path.partition("/")
    if not bucket:
        raise StorageError(f"location {scheme}://{path} has no bucket")
    return Location(type=storage_type, bucket=bucket, prefix=prefix.strip("/"), options=options)


def open_location(location: Location) -> fsspec.AbstractFileSystem:
    """Open the fsspec filesystem that serves ``location``."""
    # Backends register themselves on import; importing here keeps start-up lazy.
    from flight_server.storage import backends  # noqa: F401

    try:
        opener = _OPENERS[location.type]
    except KeyError:
        raise StorageError(f"no backend for storage type {location.type!r}") from None
    return opener(location)
