"""Where projects may point: an optional allowlist of dataset roots per Flywheel storage.

A project admin can set ``info.dataset`` to any bucket and prefix; the server would read it
with the storage's credentials (or its own environment's) and serve it to the project's
users. With ``flywheel.allowed_roots`` set, a project's root must lie under a root listed
for its storage id (``environment`` for projects without one), compared segment by
segment, so ``s3://b/study`` allows ``s3://b/study/x`` but not ``s3://b/study2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flight_server.storage import Location, StorageError, parse_location


class RootNotAllowed(StorageError):
    """A project whose dataset root is outside every root allowed for its storage."""


@dataclass(frozen=True)
class _Root:
    type: str
    account: str | None
    segments: tuple[str, ...]


class RootAllowlist:
    """The roots allowed per storage key; ``None`` allows everything (no list configured)."""

    def __init__(self, allowed: Mapping[str, Sequence[str]] | None) -> None:
        self._roots = (
            None
            if allowed is None
            else {
                key: [_root(parse_location(url)) for url in urls] for key, urls in allowed.items()
            }
        )

    def check(self, storage_key: str, location: Location) -> None:
        """Raise ``RootNotAllowed`` unless ``location`` lies under a root of ``storage_key``."""
        if self._roots is None:
            return
        target = _root(location)
        if any(segment in (".", "..") for segment in target.segments):
            raise RootNotAllowed(f"dataset root {location.display()} has . or .. segments")
        for allowed in self._roots.get(storage_key, ()):
            if _within(target, allowed):
                return
        raise RootNotAllowed(
            f"dataset root {location.display()} is outside the roots allowed for storage "
            f"{storage_key}"
        )


def _root(location: Location) -> _Root:
    account = location.options.get("account_name") if location.type == "az" else None
    segments = tuple(part for part in location.root.split("/") if part)
    return _Root(location.type, account, segments)


def _within(target: _Root, allowed: _Root) -> bool:
    if target.type != allowed.type:
        return False
    if allowed.account is not None and target.account != allowed.account:
        return False
    return target.segments[: len(allowed.segments)] == allowed.segments
