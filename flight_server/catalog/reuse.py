"""What the last refresh built, kept for the next one: an unchanged listing is not read again.

A refresh lists every dataset root (that is how it learns of new versions and files) but
only reads the JSON documents and footers of version folders whose listing changed. A
version folder's listing is summed up in a digest of its files' paths, sizes and change
markers (etags, modification times); an equal digest gives back the very ``Version`` the
last refresh built, and a dataset whose versions all came back so is itself the same
``Dataset`` object, which lets later stages tell "unchanged" by identity.

Only clean builds are kept: a version that left out a table (an unreadable file, a storage
fault) is built again next time, so a passing fault is not remembered.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from flight_server.catalog.loading import LOADED, LoadedTables
from flight_server.catalog.model import Dataset, Version

#: Listing fields that change when a file is rewritten, across fsspec backends (local
#: ``mtime``, S3 ``ETag``/``LastModified``, GCS ``md5Hash``/``generation``, Azure ``etag``).
_CHANGE_MARKERS = (
    "ETag",
    "etag",
    "md5Hash",
    "generation",
    "mtime",
    "LastModified",
    "last_modified",
)

#: A version folder: the filesystem's kind and the folder's path.
FolderKey = tuple[str, str]
#: A dataset: its catalog, its name and its Flywheel project (None when configured).
DatasetKey = tuple[str, str, str | None]


def change_marker(info: Mapping[str, Any]) -> str:
    """What tells a rewritten file apart in a listing entry, besides its size."""
    return "\0".join(str(info[name]) for name in _CHANGE_MARKERS if info.get(name) is not None)


def listing_digest(entries: Iterable[tuple[str, int, str]]) -> bytes:
    """One digest of a folder's ``(relative path, size, change marker)`` entries, any order."""
    digest = hashlib.blake2b(digest_size=16)
    for path, size, marker in sorted(entries):
        digest.update(f"{path}\0{size}\0{marker}\n".encode())
    return digest.digest()


class LoadMemo:
    """Versions and datasets of the refresh in progress and of the one before it.

    Lookups see both; ``refreshed`` forgets what the refresh that just ended did not use,
    so datasets gone from the site or from the configuration are not kept alive.
    Thread-safe: units load on threads of their own. ``loaded`` holds the tables whose
    footers their first use read (``catalog.loading``), for versions it builds.
    """

    def __init__(self, loaded: LoadedTables = LOADED) -> None:
        self.loaded = loaded
        self._lock = threading.Lock()
        self._versions: dict[FolderKey, tuple[bytes, Version]] = {}
        self._datasets: dict[DatasetKey, Dataset] = {}
        self._used_versions: dict[FolderKey, tuple[bytes, Version]] = {}
        self._used_datasets: dict[DatasetKey, Dataset] = {}

    def version(self, key: FolderKey, digest: bytes) -> Version | None:
        """The version built from a listing with this digest, if the last refresh built it."""
        with self._lock:
            entry = self._used_versions.get(key) or self._versions.get(key)
            if entry is None or entry[0] != digest:
                return None
            self._used_versions[key] = entry
            return entry[1]

    def keep_version(self, key: FolderKey, digest: bytes, version: Version) -> None:
        """Remember a version built cleanly from a listing with this digest."""
        with self._lock:
            self._used_versions[key] = (digest, version)

    def dataset(self, built: Dataset) -> Dataset:
        """The last refresh's dataset if ``built`` shows the very same versions, else ``built``.

        The same location, problems and version objects mean nothing was read again, so
        the earlier object (and everything derived from it) stands.
        """
        key = (built.catalog, built.name, built.project_id)
        with self._lock:
            earlier = self._used_datasets.get(key) or self._datasets.get(key)
            if earlier is not None and _same(earlier, built):
                built = earlier
            self._used_datasets[key] = built
            return built

    def refreshed(self) -> None:
        """A refresh ended: keep only what it used for the next one."""
        with self._lock:
            self._versions, self._used_versions = self._used_versions, {}
            self._datasets, self._used_datasets = self._used_datasets, {}


def _same(earlier: Dataset, built: Dataset) -> bool:
    return (
        earlier.location == built.location
        and earlier.problems == built.problems
        and len(earlier.versions) == len(built.versions)
        and all(a is b for a, b in zip(earlier.versions, built.versions, strict=True))
    )
