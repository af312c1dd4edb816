"""Names DuckDB holds apart stay apart, and names it would merge are never both served.

DuckDB compares identifiers ignoring ASCII case only: ``strasse`` and ``STRASSE`` are one
schema to it, ``strasse`` and ``straße`` are two. Grants, the guard and the catalog must
agree with it, or one dataset's caller could read another's rows.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from flight_server.auth import Caller, Grant
from flight_server.catalog.model import Snapshot
from flight_server.config import DatasetSettings, FlywheelSettings, Settings
from flight_server.demo import write_dataset
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.runtime import Runtime
from tests.servers.flywheel_api import FlywheelAPI


def first_subject(runtime: Runtime, sql: str, caller: Caller) -> str:
    execution = runtime.engine.start(sql, QueryContext(may_read=caller.may_see))
    try:
        batch = execution.next_batch()
    finally:
        execution.close()
    assert batch is not None
    return pa.Table.from_batches([batch]).column(0)[0].as_py()


def serving(*datasets: DatasetSettings) -> tuple[Runtime, Snapshot]:
    """A runtime serving ``datasets`` in order, and the snapshot it published."""
    runtime = Runtime(Settings(datasets=list(datasets)))
    return runtime, runtime.refresh()


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Three different datasets (different seeds, so different subject ids)."""
    base = tmp_path_factory.mktemp("clashes")
    return {
        name: write_dataset(str(base / name), subjects=3, versions=1, seed=seed).root
        for seed, name in enumerate(["lower", "upper", "sharp_s"], start=11)
    }


def test_names_differing_only_in_ascii_case_serve_the_first_dataset_only(
    roots: dict[str, str],
) -> None:
    runtime, snapshot = serving(
        DatasetSettings(name="strasse", location=roots["lower"]),
        DatasetSettings(name="STRASSE", location=roots["upper"]),
    )
    assert [d.name for d in snapshot.datasets] == ["strasse"]
    (skipped,) = snapshot.skipped
    assert skipped.name == "STRASSE"
    assert skipped.reason == "local.STRASSE is already served as local.strasse"
    owner = Caller("ann", Grant.parse(["local/strasse"]))
    sql = "SELECT min(id) FROM local.STRASSE.subjects"
    lower_only, _ = serving(DatasetSettings(name="s", location=roots["lower"]))
    everyone = Caller("root", Grant.everything())
    expected = first_subject(lower_only, "SELECT min(id) FROM local.s.subjects", everyone)
    assert first_subject(runtime, sql, owner) == expected


def test_a_grant_does_not_reach_a_name_only_unicode_folding_makes_equal(
    roots: dict[str, str],
) -> None:
    runtime, snapshot = serving(
        DatasetSettings(name="strasse", location=roots["lower"]),
        DatasetSettings(name="straße", location=roots["sharp_s"]),
    )
    assert sorted(d.name for d in snapshot.datasets) == ["strasse", "straße"]
    owner = Caller("ann", Grant.parse(["local/strasse"]))
    first_subject(runtime, "SELECT min(id) FROM local.strasse.subjects", owner)
    with pytest.raises(QueryError) as caught:
        first_subject(runtime, 'SELECT min(id) FROM local."straße".subjects', owner)
    assert caught.value.kind == ErrorKind.NOT_FOUND


@pytest.mark.parametrize("catalog", ["system", "TEMP", "memory", "fw_table_cache", "pg_catalog"])
def test_a_dataset_in_a_catalog_the_engine_keeps_is_skipped_and_the_rest_served(
    roots: dict[str, str], catalog: str
) -> None:
    _, snapshot = serving(
        DatasetSettings(name="proj", location=roots["upper"], catalog=catalog),
        DatasetSettings(name="proj", location=roots["lower"]),
    )
    assert [(d.catalog, d.name) for d in snapshot.datasets] == [("local", "proj")]
    (skipped,) = snapshot.skipped
    assert skipped.reason == f"catalog name {catalog} is reserved by the server"


@pytest.mark.parametrize("name", ["pg_catalog", "INFORMATION_SCHEMA", "main"])
def test_a_dataset_named_like_a_schema_duckdb_keeps_is_skipped_and_the_rest_served(
    roots: dict[str, str], name: str
) -> None:
    _, snapshot = serving(
        DatasetSettings(name=name, location=roots["upper"]),
        DatasetSettings(name="proj", location=roots["lower"]),
    )
    assert [d.name for d in snapshot.datasets] == ["proj"]
    assert snapshot.skipped[0].reason == f"schema name local.{name} is reserved by the server"


def test_flywheel_labels_with_at_signs_or_other_case_belong_to_their_own_project(
    flywheel_api: FlywheelAPI, roots: dict[str, str]
) -> None:
    """Ann holds roles on ``lab/proj1`` and ``lab/SECRET``; Bo owns the other two projects."""

    def project(label: str, root: str, user: str) -> dict:
        roles = [{"_id": user, "role_ids": ["ro"]}, {"_id": "svc@x.org", "role_ids": ["ro"]}]
        info = {"dataset": {"type": "fs", "bucket": root, "prefix": ""}}
        return {"group": "lab", "label": label, "info": info, "permissions": roles}

    flywheel_api.load(
        users=[{"id": "svc@x.org", "api_key": "svckey", "admin": True}],
        projects=[
            project("proj1", roots["lower"], "ann@x.org"),
            project("proj1@secret", roots["upper"], "bo@x.org"),  # not a version of proj1
            project("Secret", roots["sharp_s"], "bo@x.org"),
            project("SECRET", roots["lower"], "ann@x.org"),  # DuckDB cannot serve both
        ],
    )
    settings = Settings(
        flywheel=FlywheelSettings(api_key=flywheel_api.api_key("svc@x.org"), exhaustive=True)
    )
    runtime = Runtime(settings)
    snapshot = runtime.refresh()
    served = {d.name for d in snapshot.datasets}
    assert {"proj1", "proj1@secret", "Secret"} <= served and "SECRET" not in served
    ann = Caller("ann", Grant.of([("lab", "proj1"), ("lab", "SECRET")]))
    bo = Caller("bo", Grant.of([("lab", "proj1@secret"), ("lab", "Secret")]))
    first_subject(runtime, "SELECT min(id) FROM lab.proj1.subjects", ann)
    for sql in (
        'SELECT min(id) FROM lab."proj1@secret".subjects',
        'SELECT min(id) FROM lab."Secret".subjects',
        "SELECT min(id) FROM lab.secret.subjects",
    ):
        with pytest.raises(QueryError) as caught:
            first_subject(runtime, sql, ann)
        assert caught.value.kind == ErrorKind.NOT_FOUND
    # The owner of the label with an "@" reads it.
    first_subject(runtime, 'SELECT min(id) FROM lab."proj1@secret".subjects', bo)
