"""Import every backend module so each registers its opener.

Each object store's libraries come with an extra (``fw-flight-sql[s3]``...). A store whose
extra is not installed still gets an opener: it refuses with the extra to install, so the
dataset is skipped with that reason while the others are served.
"""

from __future__ import annotations

import importlib
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


def _needs_extra(extra: str, missing: str | None) -> Opener:
    def refuse(location: Location, _limits: CallLimits) -> fsspec.AbstractFileSystem:
        raise StorageError(
            f"{location.type} storage needs the {extra!r} extra ({missing} is not installed): "
            f"pip install 'fw-flight-sql[{extra}]'"
        )

    return refuse


for _type, (_module, _extra) in _OPTIONAL.items():
    try:
        importlib.import_module(f"flight_server.storage.{_module}")
    except ImportError as exc:
        if (exc.name or "").startswith("flight_server"):
            raise
        register_backend(_type, _needs_extra(_extra, exc.name))
