"""Local (and mounted) directories."""

from __future__ import annotations

import fsspec

from flight_server.storage.base import CallLimits, Location, register_backend


def open_local(location: Location, limits: CallLimits) -> fsspec.AbstractFileSystem:
    """Local paths need no credentials or network bounds; DuckDB reads them natively."""
    return fsspec.filesystem("file")


register_backend("fs", open_local)
