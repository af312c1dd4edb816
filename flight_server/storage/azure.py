"""Azure Blob Storage through adlfs.

Options: ``account_name`` (from ``az://account/...``), then one way to authenticate:
``access_key`` (Flywheel's name for the account key), ``sas_token``,
``connection_string``, ``tenant_id`` + ``client_id`` + ``client_secret`` (a service
principal) or ``anon``; plus ``endpoint_url`` (Azurite, sovereign clouds, private
endpoints). With no credential option at all, the AZURE_STORAGE_* environment variables
of the same names are read (AZURE_STORAGE_ACCOUNT_KEY, ..._SAS_TOKEN,
..._CONNECTION_STRING, ..._TENANT_ID, ..._CLIENT_ID, ..._CLIENT_SECRET, and
..._ACCOUNT_NAME for the account), and failing those DefaultAzureCredential decides.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

import fsspec
from adlfs import AzureBlobFileSystem
from azure.storage.blob.aio import BlobServiceClient

from flight_server.storage.base import (
    CallLimits,
    Location,
    StorageError,
    is_true,
    register_backend,
)

log = logging.getLogger(__name__)

# Credential options and the environment variables read when none is given.
_ENV = {
    "access_key": "AZURE_STORAGE_ACCOUNT_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "tenant_id": "AZURE_STORAGE_TENANT_ID",
    "client_id": "AZURE_STORAGE_CLIENT_ID",
    "client_secret": "AZURE_STORAGE_CLIENT_SECRET",
}
# adlfs reads these from the environment itself and prefers them to a service principal.
_ENV_OVERRIDING_TOKENS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
KNOWN_OPTIONS = frozenset({*_ENV, "account_name", "endpoint_url", "anon"})


class _BoundedAzure(AzureBlobFileSystem):
    """adlfs with its blob client's timeouts and retries set (adlfs passes none through).

    The SDK's default waits 15, 18 and 24 s between retries; a dead or refusing endpoint
    would hold a load for a minute.
    """

    def __init__(self, *args: Any, limits: CallLimits, **kwargs: Any) -> None:
        self._client_options = {
            "connection_timeout": limits.timeout_seconds,
            "read_timeout": limits.timeout_seconds,
            "retry_total": limits.retries,
            "initial_backoff": 1,
            "increment_base": 2,
            "random_jitter_range": 1,
        }
        super().__init__(*args, **kwargs)

    def do_connect(self) -> None:
        if self.connection_string is not None:
            self.service_client = BlobServiceClient.from_connection_string(
                conn_str=self.connection_string, **self._client_options
            )
        elif self.credential is not None and hasattr(self, "account_host"):
            self.account_url = f"https://{self.account_host}"
            self.service_client = BlobServiceClient(
                account_url=self.account_url, credential=self.credential, **self._client_options
            )
        else:
            super().do_connect()


def open_azure(location: Location, limits: CallLimits) -> fsspec.AbstractFileSystem:
    """A fresh adlfs filesystem for one location's account, credentials and endpoint.

    Keys, SAS tokens and anonymous access go through a connection string: it is the one
    adlfs input that carries an ``http://`` endpoint (Azurite) and that the environment
    cannot override. Instance and listings caches are off as in ``s3.open_s3``; requests
    are bounded by ``limits``.
    """
    options = location.options
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        log.warning("ignoring unknown az options for %s: %s", location.display(), unknown)
    caches: dict[str, Any] = {
        "skip_instance_cache": True,
        "use_listings_cache": False,
        "limits": limits,
    }
    explicit = is_true(options.get("anon")) or any(options.get(name) for name in _ENV)
    creds = {
        name: (options.get(name) if explicit else os.environ.get(var)) or None
        for name, var in _ENV.items()
    }
    if creds["connection_string"]:
        return _BoundedAzure(connection_string=creds["connection_string"], **caches)
    account = options.get("account_name") or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    if not account:
        raise StorageError(f"{location.display()}: an Azure location needs an account name")
    endpoint = options.get("endpoint_url") or f"https://{account}.blob.core.windows.net"
    if creds["access_key"]:
        secret = f"AccountName={account};AccountKey={creds['access_key']}"
    elif creds["sas_token"]:
        secret = f"SharedAccessSignature={creds['sas_token'].lstrip('?')}"
    elif is_true(options.get("anon")):
        secret = ""
    else:
        return _token_filesystem(location, account, endpoint, creds, caches)
    connection_string = ";".join(p for p in (f"BlobEndpoint={endpoint.rstrip('/')}", secret) if p)
    return _BoundedAzure(account_name=account, connection_string=connection_string, **caches)


def _token_filesystem(
    location: Location,
    account: str,
    endpoint: str,
    creds: dict[str, str | None],
    caches: dict[str, Any],
) -> fsspec.AbstractFileSystem:
    """A service principal or DefaultAzureCredential: bearer tokens, so https only."""
    parts = urlsplit(endpoint)
    if parts.scheme != "https":
        raise StorageError(f"{location.display()}: Azure AD tokens need an https endpoint_url")
    overriding = [var for var in _ENV_OVERRIDING_TOKENS if os.environ.get(var)]
    if overriding:
        raise StorageError(
            f"{location.display()}: {', '.join(overriding)} in the environment would take "
            "precedence over this location's credentials; unset it"
        )
    principal = [creds["tenant_id"], creds["client_id"], creds["client_secret"]]
    if any(principal) and not all(principal):
        raise StorageError(
            f"{location.display()}: tenant_id, client_id and client_secret go together"
        )
    return _BoundedAzure(
        account_name=account,
        account_host=f"{parts.netloc}{parts.path.rstrip('/')}",
        tenant_id=creds["tenant_id"],
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        **caches,
    )


register_backend("az", open_azure)
