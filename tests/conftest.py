"""Fixtures: generated datasets and a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from flight_server.config import AuthSettings, DatasetSettings, Settings, StaticTokenSettings
from flight_server.demo import GeneratedDataset, write_dataset
from flight_server.runtime import Runtime
from tests.support import running_server

# Real storage emulators and the fake Flywheel API, as session fixtures.
pytest_plugins = ["tests.servers.fixtures"]

#: A static bearer token the shared server accepts (it sees every dataset).
TEST_TOKEN = "shared-server-test-token"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """The current-layout demo dataset, two versions, with broken extras."""
    root = tmp_path_factory.mktemp("datasets") / "proj1"
    return write_dataset(str(root), subjects=30, versions=2, broken_extras=True)


@pytest.fixture(scope="session")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GeneratedDataset]:
    """One dataset in each legacy layout."""
    base = tmp_path_factory.mktemp("legacy")
    return {
        layout: write_dataset(str(base / layout), layout=layout, subjects=8, versions=2, seed=7)
        for layout in ("legacy_a", "legacy_b")
    }


@pytest.fixture(scope="session")
def with_hidden(demo: GeneratedDataset, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """A runtime (no server) serving the demo as ``local.proj1`` and another dataset as
    ``other.proj2``: the guard and lockdown tests' caller may read the first only."""
    hidden = write_dataset(str(tmp_path_factory.mktemp("hidden") / "proj2"), subjects=4, seed=3)
    settings = Settings(
        datasets=[
            DatasetSettings(name="proj1", location=demo.root),
            DatasetSettings(name="proj2", location=hidden.root, catalog="other"),
        ]
    )
    runtime = Runtime(settings)
    runtime.refresh()
    return runtime


@pytest.fixture(scope="session")
def server_uri(demo: GeneratedDataset, legacy: dict[str, GeneratedDataset]) -> Iterator[str]:
    """A server with the demo dataset and both legacy datasets in catalog ``local``."""
    datasets = [DatasetSettings(name="proj1", location=demo.root)]
    datasets += [DatasetSettings(name=layout, location=ds.root) for layout, ds in legacy.items()]
    # Anonymous on loopback, plus a static token for clients that always send a bearer.
    auth = AuthSettings(
        anonymous=True,
        tokens=[StaticTokenSettings(token=TEST_TOKEN, user="tester", datasets=["*"])],
    )
    with running_server(Settings(datasets=datasets, auth=auth)) as uri:
        yield uri


@pytest.fixture
def conn(server_uri: str) -> Iterator[flight_sql.Connection]:
    """A real ADBC Flight SQL connection to the shared server."""
    with flight_sql.connect(server_uri) as connection:
        yield connection
