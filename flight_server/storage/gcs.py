"""Google Cloud Storage through gcsfs.

Options: ``application_credentials`` (a service-account or authorized-user key as JSON
text, base64 of that JSON, or a file path: Flywheel's key), ``project``,
``endpoint_url`` (emulators), ``access`` (``read_only`` by default, ``read_write``,
``full_control``) and ``anon``. Without credentials gcsfs's chain decides
(GOOGLE_APPLICATION_CREDENTIALS, gcloud's cache, the metadata server, else anonymous);
``STORAGE_EMULATOR_HOST`` is honoured by gcsfs itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from typing import Any

import fsspec

# The plain class, not ``gcsfs.GCSFileSystem``: that name is a subclass that asks the
# gRPC storage-control API for every bucket's layout before opening a file, which
# emulators and private endpoints cannot answer (each open then waits ~60 s).
from gcsfs.core import DEFAULT_PROJECT, GCSFileSystem
from google.auth.credentials import Credentials
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials as UserCredentials

from flight_server.storage.base import Location, StorageError, is_true, register_backend

log = logging.getLogger(__name__)

KNOWN_OPTIONS = frozenset({"application_credentials", "project", "endpoint_url", "access", "anon"})
_ACCESS = ("read_only", "read_write", "full_control")


def open_gcs(location: Location) -> fsspec.AbstractFileSystem:
    """A fresh gcsfs filesystem for one location's credentials and endpoint.

    Instance and listings caches are off for the reasons given in ``s3.open_s3``.
    """
    options = location.options
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        log.warning("ignoring unknown gs options for %s: %s", location.display(), unknown)
    access = options.get("access") or "read_only"
    if access not in _ACCESS:
        raise StorageError(f"{location.display()}: access must be one of {', '.join(_ACCESS)}")
    # Listing needs no project; gcsfs warns when it is None, so fall back to its default.
    project = options.get("project") or DEFAULT_PROJECT
    token: Any = None
    if is_true(options.get("anon")):
        token = "anon"
    elif options.get("application_credentials"):
        info = _credentials_info(options["application_credentials"], location)
        token = _credentials(info, f"https://www.googleapis.com/auth/devstorage.{access}", location)
        project = project or info.get("project_id") or info.get("quota_project_id") or ""
    return GCSFileSystem(
        project=project,
        access=access,
        token=token,
        endpoint_url=options.get("endpoint_url") or None,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def _credentials(info: dict[str, Any], scope: str, location: Location) -> Credentials:
    """Service-account or authorized-user credentials, and no other kind.

    Other types (``external_account`` above all) name URLs and files that the client
    would fetch or read: not something a storage URL should be able to make us do.
    """
    kind = info.get("type")
    try:
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(info, scopes=[scope])
        if kind == "authorized_user":
            return UserCredentials.from_authorized_user_info(info, scopes=[scope])
    except (GoogleAuthError, ValueError, KeyError) as exc:
        raise StorageError(f"{location.display()}: unusable application_credentials") from exc
    raise StorageError(
        f"{location.display()}: application_credentials of type {kind!r} are not supported "
        "(service_account or authorized_user)"
    )


def _credentials_info(value: str, location: Location) -> dict[str, Any]:
    """Decode Flywheel's ``application_credentials``: JSON text, base64 JSON or a file path.

    Errors name the location, never the value: it is a secret.
    """
    text = value.strip()
    if not text.startswith("{"):
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as handle:
                text = handle.read()
        else:
            text = _from_base64(text, location)
    try:
        # strict=False: a transport may have turned the key's "\n" escapes into newlines.
        info = json.loads(text, strict=False)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise StorageError(
            f"{location.display()}: application_credentials is not JSON, base64 JSON or a file"
        )
    return info


def _from_base64(text: str, location: Location) -> str:
    """Standard or URL-safe base64, padding and line breaks optional.

    A space can only be a ``+`` that something URL-decoded on the way.
    """
    compact = re.sub(r"[\r\n\t]", "", text).replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise StorageError(
            f"{location.display()}: application_credentials is not JSON, base64 JSON or a file"
        ) from None


register_backend("gs", open_gcs)
