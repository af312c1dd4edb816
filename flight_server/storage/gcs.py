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
import functools
import inspect
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
from gcsfs.retry import retry_request
from google.auth.credentials import Credentials
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials as UserCredentials

from flight_server.storage.base import (
    CallLimits,
    Location,
    StorageError,
    is_true,
    register_backend,
)

log = logging.getLogger(__name__)

KNOWN_OPTIONS = frozenset({"application_credentials", "project", "endpoint_url", "access", "anon"})
_ACCESS = ("read_only", "read_write", "full_control")


def open_gcs(location: Location, limits: CallLimits) -> fsspec.AbstractFileSystem:
    """A fresh gcsfs filesystem for one location's credentials and endpoint.

    Instance and listings caches are off for the reasons given in ``s3.open_s3``. Each
    request is bounded by ``limits``: gcsfs's per-request timeout, and its retry loop
    (six attempts with back-offs up to 32 s, fixed at class level, and retrying 401s) cut
    to ``retries + 1`` attempts.
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
        scope = f"https://www.googleapis.com/auth/devstorage.{access}"
        token = _credentials(info, scope, location, limits.timeout_seconds)
        _first_token(token, location)
        project = project or info.get("project_id") or info.get("quota_project_id") or ""
    return _bounded_class(limits.retries + 1)(
        project=project,
        access=access,
        token=token,
        endpoint_url=options.get("endpoint_url") or None,
        requests_timeout=limits.timeout_seconds,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


@functools.cache
def _bounded_class(attempts: int) -> type[GCSFileSystem]:
    """``GCSFileSystem`` whose requests are tried ``attempts`` times (gcsfs fixes six)."""
    request = retry_request(retries=attempts)(inspect.unwrap(GCSFileSystem._request))
    return type(f"GCSFileSystem{attempts}", (GCSFileSystem,), {"_request": request})


def _credentials(
    info: dict[str, Any], scope: str, location: Location, timeout: float
) -> Credentials:
    """Service-account or authorized-user credentials, and no other kind.

    Other types (``external_account`` above all) name URLs and files that the client
    would fetch or read: not something a storage URL should be able to make us do.
    """
    kind = info.get("type")
    try:
        if kind == "service_account":
            accounts = _bounded_refresh(service_account.Credentials, timeout)
            return accounts.from_service_account_info(info, scopes=[scope])
        if kind == "authorized_user":
            users = _bounded_refresh(UserCredentials, timeout)
            return users.from_authorized_user_info(info, scopes=[scope])
    except (GoogleAuthError, ValueError, KeyError) as exc:
        raise StorageError(f"{location.display()}: unusable application_credentials") from exc
    raise StorageError(
        f"{location.display()}: application_credentials of type {kind!r} are not supported "
        "(service_account or authorized_user)"
    )


def _first_token(credentials: Credentials, location: Location) -> None:
    """Get the first access token here, in the loading unit's own thread.

    gcsfs would otherwise fetch it synchronously inside the event loop every fsspec
    filesystem shares, so a refused or hung token endpoint would stall the S3, GCS and
    Azure datasets of every other unit too. Later refreshes (hourly) are bounded.
    """
    try:
        credentials.refresh(AuthRequest())
    except GoogleAuthError as exc:
        raise StorageError(
            f"{location.display()}: no access token from application_credentials "
            f"({type(exc).__name__})"
        ) from None


@functools.cache
def _bounded_refresh(cls: type[Credentials], timeout: float) -> type[Credentials]:
    """``cls`` whose token requests wait at most ``timeout`` seconds each.

    google-auth waits 120 s by default, and gcsfs refreshes tokens synchronously inside
    the event loop that every fsspec filesystem shares: one hung token endpoint would
    stall every dataset on S3, GCS and Azure alike.
    """

    def refresh(self: Credentials, request: Any) -> None:
        def bounded(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", timeout)
            return request(*args, **kwargs)

        cls.refresh(self, bounded)

    return type(f"Bounded{cls.__name__}", (cls,), {"refresh": refresh})


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
