"""Local (and mounted) directories."""

from __future__ import annotations

import fsspec

from flight_server.storage.base import Location, register_backend


def open_local(location: Location) -> fsspec.AbstractFileSystem:
    """Local paths need no credentials; DuckDB reads them natively."""
    return fsspec.filesystem("file")


register_backend("fs", open_local)
