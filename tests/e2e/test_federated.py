"""Federated datasets: three centres on local disk and S3, one de-duplicated view, via ADBC."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from flight_server.config import Settings
from tests.centres import consortium_config
from tests.servers.s3 import S3Server
from tests.support import running_server


@pytest.fixture(scope="module")
def consortium(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = consortium_config(s3_server, tmp_path_factory.mktemp("centres"))
    with running_server(Settings(**config)) as uri:
        yield uri


def fetch(uri: str, query: str) -> list[dict]:
    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table().to_pylist()


def test_union_center_column_and_deduplication(consortium: str) -> None:
    got = fetch(consortium, "SELECT * FROM federated.consortium.subjects ORDER BY id")
    row = dict.fromkeys(("center", "id", "label", "age", "sex"))
    assert got == [
        {**row, "center": "a", "id": "s1", "label": "a1", "age": 30},  # a listed before c
        {**row, "center": "a", "id": "s2", "label": "a2", "age": 31},
        {**row, "center": "a", "id": "s3", "label": "a3", "age": 32},  # a listed before b
        # Within one centre the smallest row wins: label b4a < b4z.
        {**row, "center": "b", "id": "s4", "label": "b4a", "age": 41, "sex": "M"},
        {**row, "center": "c", "id": "s5", "label": "c5", "age": 50},
    ]


def test_missing_table_contributes_nothing(consortium: str) -> None:
    got = fetch(consortium, "SELECT center, id FROM federated.consortium.sessions ORDER BY id")
    assert got == [
        {"center": "a", "id": "x1"},
        {"center": "a", "id": "x2"},
        {"center": "c", "id": "x3"},
    ]


def test_table_without_criteria_keeps_every_row(consortium: str) -> None:
    got = fetch(consortium, "SELECT * FROM federated.consortium.notes")
    assert got == [{"center": "c", "text": "same"}] * 2


def test_duplicate_report(consortium: str) -> None:
    got = fetch(consortium, "SELECT * FROM federated.consortium._duplicates")
    assert got == [
        {
            "table_name": "notes",
            "criteria": [],
            "rows_in": 2,
            "rows_out": 2,
            "duplicates_dropped": 0,
            "duplicate_keys": [],
        },
        {
            "table_name": "sessions",
            "criteria": ["id", "subject"],
            "rows_in": 4,
            "rows_out": 3,
            "duplicates_dropped": 1,
            "duplicate_keys": ['{"id":"x1","subject":"s1"}'],
        },
        {
            "table_name": "subjects",
            "criteria": ["id"],
            "rows_in": 8,
            "rows_out": 5,
            "duplicates_dropped": 3,
            "duplicate_keys": ['{"id":"s1"}', '{"id":"s3"}', '{"id":"s4"}'],
        },
    ]


def test_report_agrees_with_the_views(consortium: str) -> None:
    for table in ("subjects", "sessions", "notes"):
        [count] = fetch(consortium, f"SELECT count(*) AS n FROM federated.consortium.{table}")
        [report] = fetch(
            consortium,
            f"SELECT rows_out FROM federated.consortium._duplicates WHERE table_name = '{table}'",
        )
        assert count["n"] == report["rows_out"]


def test_unresolvable_centre_skips_only_its_federated_dataset(consortium: str) -> None:
    with pytest.raises(flight_sql.ProgrammingError, match="does not exist"):
        fetch(consortium, "SELECT * FROM federated.broken.subjects")
    assert fetch(consortium, "SELECT count(*) AS n FROM local.site_a.subjects") == [{"n": 3}]


def test_federated_schema_is_listed_and_usable_as_session_default(consortium: str) -> None:
    with flight_sql.connect(
        consortium, db_kwargs={"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
    ) as conn:
        objects = conn.adbc_get_objects(catalog_filter="federated").read_all().to_pylist()
        (catalog,) = objects
        (schema,) = [
            s for s in catalog["catalog_db_schemas"] if s["db_schema_name"] == "consortium"
        ]
        tables = {t["table_name"]: t for t in schema["db_schema_tables"]}
        assert {"subjects", "sessions", "notes", "_duplicates"} <= set(tables)
        columns = [c["column_name"] for c in tables["subjects"]["table_columns"]]
        assert columns[0] == "center" and "label" in columns
        conn.adbc_current_catalog = "federated"
        conn.adbc_current_db_schema = "consortium"
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM subjects")
            assert cur.fetch_arrow_table().to_pylist() == [{"n": 5}]
