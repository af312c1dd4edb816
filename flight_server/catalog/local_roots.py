"""Local dataset directories named in the configuration, known before anything is served.

The engine lets DuckDB read these natively (the fast path) and lists them in its file
lockdown, which cannot change once on; every other dataset is read through its router.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from flight_server.config import DatasetSettings
from flight_server.storage import StorageError, parse_location


def configured_local_roots(entries: Iterable[DatasetSettings]) -> list[str]:
    """Absolute roots of the configured datasets that are local directories."""
    roots = []
    for entry in entries:
        try:
            location = parse_location(entry.location)
        except StorageError:
            continue  # skipped with its reason when the catalog loads
        if location.type == "fs":
            roots.append(os.path.abspath(location.root))
    return roots
