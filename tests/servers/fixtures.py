"""Session-scoped pytest fixtures for the test servers; load with
``pytest_plugins = ["tests.servers.fixtures"]`` in the root conftest.py.

Importing this module also points the cloud SDKs' metadata-server probes at nothing:
a test that falls through to a default credential chain must fail fast on loopback,
not reach 169.254.169.254. google-auth reads these variables at import time, so they
are set here, before any test module imports it; values already set are kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers.azurite import AzuriteServer, azurite_binary
from tests.servers.flywheel_api import FlywheelAPI
from tests.servers.gcs import GCSServer
from tests.servers.s3 import S3Server

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")
os.environ.setdefault("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto S3 on loopback, shared by the session: use your own bucket names."""
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GCSServer]:
    """The GCS emulator on loopback, shared by the session: use your own bucket names."""
    with GCSServer() as server:
        yield server


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[AzuriteServer]:
    """Azurite on loopback; skipped only when the azurite-blob binary is not installed."""
    binary = azurite_binary()
    if not binary.exists():
        pytest.skip(
            f"azurite-blob not found at {binary}: run "
            "`npm install --prefix .tools azurite@3.35.0` (the Makefile does) "
            "or set AZURITE_BLOB"
        )
    with AzuriteServer(binary) as server:
        yield server


@pytest.fixture(scope="session")
def flywheel_api() -> Iterator[FlywheelAPI]:
    """An empty fake Flywheel API on loopback; fill it with ``load(...)`` per test."""
    with FlywheelAPI() as api:
        yield api
