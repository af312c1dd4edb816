"""Backend modules, each imported when a location of its storage type is first opened.

Importing a backend registers its opener. The object stores' libraries take about 0.5 s to
import together (s3fs with aiobotocore, gcsfs with google-auth, adlfs), so a server of
local datasets never imports them. Each store's libraries come with an extra
(``fw-flight-sql[s3]``...); a store whose extra is not installed still gets an opener: it
refuses with the extra to install, so the dataset is skipped with that reason while the
others are served.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from flight_server.storage import local  # noqa: F401
from flight_server.storage.base import (
    CallLimits,
    Location,
    Opener,
    StorageError,
    register_backend,
)

if TYPE_CHECKING:
    import fsspec

#: Canonical storage type: (backend module, extra that installs its libraries).
_OPTIONAL = {"s3": ("s3", "s3"), "gs": ("gcs", "gcs"), "az": ("azure", "azure")}
#: Held while a backend is imported (``load``).
_LOADING = threading.Lock()


def _needs_extra(extra: str, missing: str | None) -> Opener:
    def refuse(location: Location, _limits: CallLimits) -> fsspec.AbstractFileSystem:
        raise StorageError(
            f"{location.type} storage needs the {extra!r} extra ({missing} is not installed): "
            f"pip install 'fw-flight-sql[{extra}]'"
        )

    return refuse


def load(storage_type: str) -> None:
    """Register the opener of ``storage_type`` by importing its backend (local paths' is
    always registered; an unknown type gets none).

    One backend is imported at a time: catalog units open locations on several threads, and
    two stores' libraries imported at once can meet in a shared dependency, which Python
    may report as an import deadlock; that must not pass for a missing extra.
    """
    if storage_type not in _OPTIONAL:
        return
    module, extra = _OPTIONAL[storage_type]
    with _LOADING:
        try:
            importlib.import_module(f"flight_server.storage.{module}")
        except ImportError as exc:
            if exc.name is None or exc.name.startswith("flight_server"):
                raise  # not a library that is absent
            register_backend(storage_type, _needs_extra(extra, exc.name))
