"""Names DuckDB holds apart stay apart, and names it would merge are never both served.

DuckDB compares identifiers ignoring ASCII case only: ``strasse`` and ``STRASSE`` are one
schema to it, ``strasse`` and ``straße`` are two. Grants, the guard and the catalog must
agree with it, or one dataset's caller could read another's rows.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from flight_server.auth import Caller, FlywheelKeys, Grant
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
    # The reason does not name the other dataset: its readers may differ.
    assert skipped.reason == "local.STRASSE is taken by another dataset (names ignore ASCII case)"
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


class FlywheelSite:
    """The fake Flywheel site with a service account, Ann and Bo; projects added per test.

    The site lists projects by id, so Bo's (``1-...``) come first and win name clashes.
    """

    def __init__(self, api: FlywheelAPI, roots: dict[str, str]) -> None:
        self.api, self._roots, self._projects = api, roots, []

    def project(self, project_id: str, label: str, user: str, root: str | None) -> None:
        """Project ``lab/label`` owned by ``user``, showing ``roots[root]`` (None: no dataset)."""
        roles = [{"_id": user, "role_ids": ["ro"]}, {"_id": "svc@x.org", "role_ids": ["ro"]}]
        info = {"dataset": {"type": "fs", "bucket": self._roots[root]}} if root else {}
        group = "lab" if root else "local"
        self._projects.append(
            {"_id": project_id, "group": group, "label": label, "info": info, "permissions": roles}
        )

    def load(self) -> None:
        """Publish the projects, and make the runtime that discovers them."""
        self.api.load(
            users=[
                {"id": "svc@x.org", "api_key": "svckey", "admin": True},
                {"id": "ann@x.org", "api_key": "annkey"},
                {"id": "bo@x.org", "api_key": "bokey"},
            ],
            projects=self._projects,
        )
        self.runtime = Runtime(
            Settings(
                datasets=[DatasetSettings(name="proj2", location=self._roots["upper"])],
                flywheel=FlywheelSettings(api_key=self.api.api_key("svc@x.org"), exhaustive=True),
            )
        )

    def caller(self, user: str) -> Caller:
        caller = FlywheelKeys(self.api.url).caller_for(self.api.api_key(user))
        assert caller is not None
        return caller


def refused_to(runtime: Runtime, caller: Caller, sql: str) -> None:
    with pytest.raises(QueryError) as caught:
        first_subject(runtime, sql, caller)
    assert caught.value.kind == ErrorKind.NOT_FOUND


def test_flywheel_roles_reach_their_own_project_whatever_the_labels(
    flywheel_api: FlywheelAPI, roots: dict[str, str]
) -> None:
    """Labels with "@", labels that differ in case only or not at all, and a project named
    like a configured dataset: each role reads its own project and nothing else."""
    site = FlywheelSite(flywheel_api, roots)
    site.project("2-ann", "proj1", "ann@x.org", "lower")
    site.project("1-bo-at", "proj1@secret", "bo@x.org", "upper")  # not a version of proj1
    site.project("1-bo-case", "Secret", "bo@x.org", "sharp_s")
    site.project("2-ann-case", "SECRET", "ann@x.org", "lower")  # skipped: DuckDB sees Secret
    site.project("1-bo-dup", "Dup", "bo@x.org", "upper")
    site.project("2-ann-dup", "Dup", "ann@x.org", "lower")  # skipped: the same name
    site.project("2-ann-none", "proj2", "ann@x.org", None)  # local/proj2, but no dataset
    site.load()
    snapshot = site.runtime.refresh()
    served = {(d.catalog, d.name, d.project_id) for d in snapshot.datasets}
    assert ("lab", "Dup", "1-bo-dup") in served and ("lab", "Secret", "1-bo-case") in served
    assert ("local", "proj2", None) in served
    ann, bo = site.caller("ann@x.org"), site.caller("bo@x.org")
    first_subject(site.runtime, "SELECT min(id) FROM lab.proj1.subjects", ann)
    for sql in (
        'SELECT min(id) FROM lab."proj1@secret".subjects',
        'SELECT min(id) FROM lab."Secret".subjects',
        "SELECT min(id) FROM lab.secret.subjects",
        'SELECT min(id) FROM lab."Dup".subjects',
        "SELECT min(id) FROM local.proj2.subjects",
    ):
        refused_to(site.runtime, ann, sql)
    first_subject(site.runtime, 'SELECT min(id) FROM lab."proj1@secret".subjects', bo)
    first_subject(site.runtime, 'SELECT min(id) FROM lab."Dup".subjects', bo)


def test_renaming_a_project_keeps_it_and_frees_its_name(
    flywheel_api: FlywheelAPI, roots: dict[str, str]
) -> None:
    site = FlywheelSite(flywheel_api, roots)
    site.project("1-bo", "Proj", "bo@x.org", "upper")
    site.project("2-ann", "PROJ", "ann@x.org", "lower")  # skipped while Proj exists
    site.load()
    site.runtime.refresh()
    ann, bo = site.caller("ann@x.org"), site.caller("bo@x.org")
    everyone = Caller("root", Grant.everything())
    upper = first_subject(site.runtime, 'SELECT min(id) FROM lab."Proj".subjects', everyone)
    site.api.update_project("1-bo", label="proj")  # a rename in case only
    site.runtime.refresh()
    assert first_subject(site.runtime, "SELECT min(id) FROM lab.proj.subjects", bo) == upper
    site.api.update_project("1-bo", label="zed")
    site.runtime.refresh()
    assert first_subject(site.runtime, "SELECT min(id) FROM lab.zed.subjects", bo) == upper
    lower = first_subject(site.runtime, 'SELECT min(id) FROM lab."PROJ".subjects', ann)
    assert lower != upper
