"""Names DuckDB holds apart stay apart, and names it would merge are never both served.

DuckDB compares identifiers ignoring ASCII case only: ``strasse`` and ``STRASSE`` are one
schema to it, ``strasse`` and ``straße`` are two. Grants, the guard and the catalog must
agree with it, or one dataset's caller could read another's rows.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from flight_server.auth import Caller, Grant
from flight_server.config import DatasetSettings, Settings
from flight_server.demo import write_dataset
from flight_server.engine import ErrorKind, QueryContext, QueryError
from flight_server.runtime import Runtime


def first_subject(runtime: Runtime, sql: str, caller: Caller) -> str:
    execution = runtime.engine.start(sql, QueryContext(may_read=caller.may_see))
    try:
        batch = execution.next_batch()
    finally:
        execution.close()
    assert batch is not None
    return pa.Table.from_batches([batch]).column(0)[0].as_py()


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
    runtime = Runtime(
        Settings(
            datasets=[
                DatasetSettings(name="strasse", location=roots["lower"]),
                DatasetSettings(name="STRASSE", location=roots["upper"]),
            ]
        )
    )
    snapshot = runtime.refresh()
    assert [d.name for d in snapshot.datasets] == ["strasse"]
    (skipped,) = snapshot.skipped
    assert skipped.name == "STRASSE"
    assert skipped.reason == "local.STRASSE is already served as local.strasse"
    owner = Caller("ann", Grant.parse(["local/strasse"]))
    sql = "SELECT min(id) FROM local.STRASSE.subjects"
    lower_only = Runtime(Settings(datasets=[DatasetSettings(name="s", location=roots["lower"])]))
    lower_only.refresh()
    everyone = Caller("root", Grant.everything())
    expected = first_subject(lower_only, "SELECT min(id) FROM local.s.subjects", everyone)
    assert first_subject(runtime, sql, owner) == expected


def test_a_grant_does_not_reach_a_name_only_unicode_folding_makes_equal(
    roots: dict[str, str],
) -> None:
    runtime = Runtime(
        Settings(
            datasets=[
                DatasetSettings(name="strasse", location=roots["lower"]),
                DatasetSettings(name="straße", location=roots["sharp_s"]),
            ]
        )
    )
    snapshot = runtime.refresh()
    assert sorted(d.name for d in snapshot.datasets) == ["strasse", "straße"]
    owner = Caller("ann", Grant.parse(["local/strasse"]))
    first_subject(runtime, "SELECT min(id) FROM local.strasse.subjects", owner)
    with pytest.raises(QueryError) as caught:
        first_subject(runtime, 'SELECT min(id) FROM local."straße".subjects', owner)
    assert caught.value.kind == ErrorKind.NOT_FOUND


@pytest.mark.parametrize("catalog", ["system", "TEMP", "memory", "fw_table_cache"])
def test_a_dataset_in_a_catalog_the_engine_keeps_is_skipped_and_the_rest_served(
    roots: dict[str, str], catalog: str
) -> None:
    runtime = Runtime(
        Settings(
            datasets=[
                DatasetSettings(name="proj", location=roots["upper"], catalog=catalog),
                DatasetSettings(name="proj", location=roots["lower"]),
            ]
        )
    )
    snapshot = runtime.refresh()
    assert [(d.catalog, d.name) for d in snapshot.datasets] == [("local", "proj")]
    (skipped,) = snapshot.skipped
    assert skipped.reason == f"catalog name {catalog} is reserved by the server"
