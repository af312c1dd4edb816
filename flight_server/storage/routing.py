"""One protocol for every routed dataset: ``fwds://<key>/<path inside the dataset>``.

DuckDB's file lockdown (``enable_external_access=false``) names what may be read in
``allowed_directories``, which cannot change once the lockdown is on. Datasets discovered
later (a new Flywheel project, rotated credentials) must still become readable, so one
protocol is registered and allowed at start-up, and this router maps each dataset's key
to that dataset's filesystem, anchored at its root.

The router is a barrier of its own: a path whose key is not routed, or that leaves the
dataset (``..`` segments, an absolute path, a backslash), is refused before any backend
sees it. Keys are random per process, so even SQL that reached DuckDB unchecked could
not name another dataset's files without knowing its key.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from typing import Any

from fsspec import AbstractFileSystem

from flight_server.config import DEFAULT_TAIL_CACHE_BYTES
from flight_server.storage.anchored import anchored

#: The protocol DuckDB knows the router by; ``fwds://`` goes into ``allowed_directories``.
PROTOCOL = "fwds"
_PREFIX = f"{PROTOCOL}://"


class RoutingError(PermissionError):
    """A path outside every routed dataset."""


class DatasetRouter(AbstractFileSystem):
    """Read-only routes from ``fwds://<key>/...`` to one anchored filesystem per dataset."""

    protocol = PROTOCOL
    root_marker = ""

    def __init__(self, tail_bytes: int = DEFAULT_TAIL_CACHE_BYTES) -> None:
        """``tail_bytes``: memory for each dataset's file tails (parquet footers)."""
        super().__init__(skip_instance_cache=True)
        self._tail_bytes = tail_bytes
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._routes: dict[str, AbstractFileSystem] = {}
        self._sources: dict[str, AbstractFileSystem] = {}

    # -- routes -----------------------------------------------------------------------------

    def route(self, identity: str, filesystem: AbstractFileSystem, root: str) -> str:
        """The URL prefix (``fwds://<key>/``) of ``root`` on ``filesystem``, routed from now on.

        One key per identity for the life of the process, so views built over it stay the
        same across refreshes; a new filesystem object (rotated credentials) replaces the
        old one behind the same key.
        """
        with self._lock:
            key = self._keys.setdefault(identity, secrets.token_hex(12))
            if self._sources.get(key) is not filesystem:
                self._routes[key] = anchored(filesystem, root, f"{PROTOCOL}{key}", self._tail_bytes)
                self._sources[key] = filesystem
        return f"{_PREFIX}{key}/"

    def _resolve(self, path: str) -> tuple[AbstractFileSystem, str, str]:
        """The dataset filesystem, the path inside it and the key, or ``RoutingError``."""
        text = str(path)
        if text.startswith(_PREFIX):
            text = text[len(_PREFIX) :]
        key, _, inner = text.partition("/")
        parts = inner.split("/")
        if "\\" in inner or inner.startswith("/") or any(p in ("..", ".") for p in parts):
            raise RoutingError(f"path leaves its dataset: {path}")
        with self._lock:
            filesystem = self._routes.get(key)
        if filesystem is None:
            raise RoutingError(f"no dataset is routed at {_PREFIX}{key}")
        return filesystem, inner, key

    @staticmethod
    def _url(key: str, inner: str) -> str:
        return f"{_PREFIX}{key}/{inner.lstrip('/')}"

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        # Paths keep their key; fsspec's default would treat it as a host name and drop it.
        text = str(path)
        return text[len(_PREFIX) :] if text.startswith(_PREFIX) else text

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise RoutingError("routed datasets are read-only")
        filesystem, inner, _key = self._resolve(path)
        return filesystem.open(inner, mode, **kwargs)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        filesystem, inner, key = self._resolve(path)
        return {**filesystem.info(inner, **kwargs), "name": self._url(key, inner)}

    def size(self, path: str) -> int:
        filesystem, inner, _key = self._resolve(path)
        return int(filesystem.size(inner))

    def modified(self, path: str) -> Any:
        filesystem, inner, _key = self._resolve(path)
        return filesystem.modified(inner)

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            filesystem, inner, _key = self._resolve(path)
        except RoutingError:
            return False
        return bool(filesystem.exists(inner, **kwargs))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kw: Any):
        filesystem, inner, _key = self._resolve(path)
        return filesystem.cat_file(inner, start=start, end=end, **kw)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        filesystem, inner, key = self._resolve(path)
        entries = filesystem.ls(inner, detail=detail, **kwargs)
        if not detail:
            return [self._url(key, name) for name in entries]
        return [{**entry, "name": self._url(key, entry["name"])} for entry in entries]

    def glob(self, path: str, **kwargs: Any) -> list[str]:
        filesystem, inner, key = self._resolve(path)
        return [self._url(key, found) for found in filesystem.glob(inner, **kwargs)]

    def walk(self, path: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise RoutingError("routed datasets are not walked")

    # -- writing: never --------------------------------------------------------------------

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise RoutingError("routed datasets are read-only")

    mkdir = makedirs = rm = rm_file = rmdir = mv = cp_file = pipe_file = touch = _refuse
