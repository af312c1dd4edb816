"""Plans of one shape: a lookup by a new value takes the plan of a text of its shape, with no
bind, when each constant its shape leaves out only chooses rows (it is in a WHERE clause);
any other text is planned afresh, and DoGet checks the caller and runs the text as always.

The differential test checks the premise: for every text of the corpus whose analysis says
its columns follow its shape, the texts of that shape with other values bind afresh to the
same columns and types (or fail to bind, which DoGet then reports).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import duckdb
import pytest

from flight_server.auth import hash_password
from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    Settings,
    StaticTokenSettings,
    UserSettings,
)
from flight_server.demo import write_dataset
from flight_server.engine import ErrorKind, Plan, QueryError
from flight_server.engine.guard import analyse, shape_of
from flight_server.runtime import Runtime
from tests.constant_variants import with_constants_swapped
from tests.e2e.test_guard import alice
from tests.service_support import running_service

ROWS_ONLY = [
    "SELECT c FROM t WHERE b = 3 AND c = 'x'",
    "SELECT * FROM t WHERE c IN ('a', 'b') OR b BETWEEN 1 AND 2.5",
    "SELECT c FROM t WHERE b IN (SELECT b FROM u WHERE d = 'x')",
    "WITH s AS (SELECT * FROM t WHERE b > 1) SELECT * FROM s",
    "SELECT c, count(*) FROM t WHERE b = 1 GROUP BY c",
    "SELECT c FROM t WHERE b IN (SELECT 5 WHERE 1 = 1)",
]
MORE_THAN_ROWS = [
    "SELECT 1",
    "SELECT 'a' || c FROM t WHERE b = 1",
    "SELECT c FROM t WHERE b = 3 LIMIT 4",
    "SELECT 5 AS k FROM t WHERE k = 1",  # the WHERE names the select list's constant
    "SELECT c FROM t GROUP BY c HAVING count(*) > 1",
    "SELECT c FROM t ORDER BY 1",
    "SELECT c FROM t JOIN u ON t.b = u.b AND u.d = 'x'",
    "SELECT c FROM t QUALIFY row_number() OVER () = 1",
    "SELECT (SELECT 'abc' WHERE 5 = 5)",
    'PIVOT (SELECT * FROM t WHERE b = 3) ON c IN ("a", "b") USING sum(v)',
    # An expression's text names its column when it has no alias, subqueries included; the
    # name may become a struct field's or decide a UNION BY NAME (found by an attack run).
    "SELECT EXISTS(FROM t WHERE b = 1)",
    "SELECT s FROM (SELECT EXISTS(FROM t WHERE b = 1)) s",
    "SELECT c IN (SELECT d FROM u WHERE b = 2) FROM t",
    "SELECT EXISTS(FROM t WHERE b = 1) UNION ALL BY NAME SELECT EXISTS(FROM t WHERE b = 2)",
    "SELECT l.* FROM t, LATERAL (SELECT EXISTS(FROM u WHERE u.b = t.b AND d = 'x')) l",
    "WITH q AS (SELECT EXISTS(FROM t WHERE b = 1)) SELECT * FROM q",
    "SELECT row((SELECT max(b) FROM t WHERE c = 'x'))",
    "SELECT (SELECT max(b) FROM u WHERE d = 'x') AS m FROM t",  # alias or not: any expression
]


@pytest.fixture(scope="module")
def parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize("sql", ROWS_ONLY)
def test_columns_follow_the_shape_where_every_constant_only_chooses_rows(
    parser: duckdb.DuckDBPyConnection, sql: str
) -> None:
    analysis = analyse(parser, sql)
    assert analysis.shape == shape_of(sql) is not None
    assert analysis.columns_follow_shape
    assert analysis.without_tree().columns_follow_shape  # what the engine keeps


@pytest.mark.parametrize("sql", MORE_THAN_ROWS)
def test_columns_do_not_follow_the_shape_where_a_constant_may_make_one(
    parser: duckdb.DuckDBPyConnection, sql: str
) -> None:
    analysis = analyse(parser, sql)
    assert analysis.shape is not None  # a shape for the guard, but not for the columns
    assert not analysis.columns_follow_shape


# Values a constant is swapped for: of the same kind, and of other sizes and spellings.
_VALUES = {
    "string": ["''", "'x'", "'it''s'", "'2020-01-01'", "'12'", "'" + "y" * 300 + "'"],
    "integer": ["0", "7", "2147483648", "9223372036854775808", "99999999999999999999999"],
    "decimal": ["0.5", "1e9", "12345678901234567890.123", ".25"],
}
_CORPUS = [
    "SELECT label, visit FROM sessions WHERE label = 'x' AND visit = 1",
    "SELECT * FROM sessions WHERE visit BETWEEN 1 AND 2 OR age > 30.5",
    "SELECT id, size FROM files WHERE \"parents.session\" = 'a' AND size > 10",
    "SELECT count(*), max(size) FROM files WHERE type IN ('dicom', 'nifti')",
    'SELECT label FROM subjects WHERE id IN (SELECT "parents.subject" FROM sessions'
    " WHERE visit = 2)",
    "SELECT (SELECT max(age) FROM sessions WHERE label = 'x') AS oldest FROM subjects",
    "WITH s AS (SELECT * FROM sessions WHERE weight > 70) SELECT label, weight FROM s",
    "SELECT visit, avg(bmi) FROM sessions WHERE completed AND age < 40 GROUP BY visit",
    "SELECT * FROM (SELECT label FROM sessions WHERE visit = 1) UNION ALL BY NAME"
    " SELECT label FROM subjects WHERE sex = 'F'",
    # Columns named by their text, constants included: they must say no plan shape.
    "SELECT EXISTS(FROM sessions WHERE visit = 1)",
    "SELECT s FROM (SELECT EXISTS(FROM sessions WHERE visit = 1)) s",
    "SELECT (SELECT max(age) FROM sessions WHERE label = 'x') FROM subjects",
    "SELECT EXISTS(FROM sessions WHERE visit = 1) UNION ALL BY NAME"
    " SELECT EXISTS(FROM sessions WHERE visit = 1)",
    "SELECT l.* FROM subjects, LATERAL (SELECT EXISTS(FROM sessions"
    ' WHERE "parents.subject" = subjects.id AND visit = 1)) l',
]


def _variants(sql: str) -> list[str]:
    return with_constants_swapped(sql, _VALUES)


def _plan(runtime: Runtime, sql: str) -> Plan | ErrorKind:
    try:
        return runtime.engine.plan(sql, alice())  # the engine's own plan: a bind every time
    except QueryError as exc:
        return exc.kind


def test_every_text_of_a_rows_only_shape_binds_to_the_same_columns_and_types(
    with_hidden: Runtime,
) -> None:
    compared = 0
    for sql in _CORPUS:
        first = _plan(with_hidden, sql)
        assert isinstance(first, Plan), sql
        if first.shape is None:
            continue
        assert first.shape == shape_of(sql), sql
        for variant in _variants(sql):
            assert shape_of(variant) == first.shape, variant
            fresh = _plan(with_hidden, variant)
            if isinstance(fresh, ErrorKind):  # a value the column cannot hold: DoGet says so
                assert fresh == ErrorKind.INVALID, variant
                continue
            assert fresh.schema.equals(first.schema, check_metadata=True), variant
            assert (fresh.type_names, fresh.tables) == (first.type_names, first.tables), variant
            compared += 1
    assert compared > 60


def test_plans_that_may_differ_by_value_or_are_parameterised_say_no_shape(
    with_hidden: Runtime,
) -> None:
    for sql in (
        "SELECT label FROM sessions LIMIT 3",
        "SELECT label, 'x' AS tag FROM sessions WHERE visit = 1",
        "SELECT label FROM sessions WHERE visit = ?",
    ):
        plan = with_hidden.engine.plan(sql, alice())
        assert plan.shape is None, sql


LOOKUP = "SELECT id, label, visit FROM local.proj1.sessions WHERE visit = {} AND label <> '{}'"
USERS = {"alice": ["local/proj1"], "bob": ["local/proj2"]}


def _settings(root: str, other: str) -> Settings:
    users = {
        name: UserSettings(password_hash=hash_password(name + "-pw"), datasets=datasets)
        for name, datasets in USERS.items()
    }
    return Settings(
        datasets=[
            DatasetSettings(name="proj1", location=root),
            DatasetSettings(name="proj2", location=other),
        ],
        auth=AuthSettings(users=users),
    )


def _login(name: str) -> dict[str, str]:
    return {"username": name, "password": name + "-pw"}


def test_a_lookup_by_a_new_value_is_prepared_from_its_shape_and_run_as_written(
    tmp_path: Path,
) -> None:
    """With the files moved away no bind can succeed: a text of a known rows-only shape is
    still prepared (from the plan of its shape), while any other new text is bound and
    fails. Each runs as written once the files are back, to its own rows; a caller who may
    not read the table is refused as before, whatever was prepared for others."""
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=6, versions=1)
    other = write_dataset(str(tmp_path / "proj2"), subjects=2, versions=1)
    with running_service(_settings(dataset.root, other.root)) as service:
        with flight_sql.connect(service.uri, db_kwargs=_login("alice")) as conn:
            with conn.cursor() as cursor:
                cursor.execute(LOOKUP.format(1, "none"))
                first = cursor.fetch_arrow_table()
                assert first.num_rows and set(first["visit"].to_pylist()) == {1}
            shutil.move(dataset.root, tmp_path / "moved")
            with conn.cursor() as cursor:
                cursor.adbc_prepare(LOOKUP.format(2, "nobody"))  # no bind: its shape's plan
                with pytest.raises(adbc_driver_manager.Error):
                    cursor.adbc_prepare("SELECT id, label FROM local.proj1.sessions LIMIT 2")
            shutil.move(tmp_path / "moved", dataset.root)
            with conn.cursor() as cursor:
                cursor.execute(LOOKUP.format(2, "nobody"))
                second = cursor.fetch_arrow_table()
            assert second.schema.equals(first.schema, check_metadata=True)
            assert second.num_rows and set(second["visit"].to_pylist()) == {2}
        with flight_sql.connect(service.uri, db_kwargs=_login("bob")) as conn:
            with conn.cursor() as cursor, pytest.raises(adbc_driver_manager.Error) as caught:
                cursor.execute(LOOKUP.format(3, "x"))
            assert "does not exist" in str(caught.value)


def test_a_plan_is_kept_per_grant_not_only_per_user_name(tmp_path: Path) -> None:
    """A token may carry the name of a user who logs in with a password, and see other
    datasets: what one identity planned is never the other's plan, by text or by shape."""
    dataset = write_dataset(str(tmp_path / "proj1"), subjects=4, versions=1)
    other = write_dataset(str(tmp_path / "proj2"), subjects=2, versions=1)
    settings = _settings(dataset.root, other.root)
    settings.auth.tokens = [
        StaticTokenSettings(token="alice-service", user="alice", datasets=["local/proj2"])
    ]
    token = {"adbc.flight.sql.authorization_header": "Bearer alice-service"}
    with running_service(settings) as service:
        with (
            flight_sql.connect(service.uri, db_kwargs=_login("alice")) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(LOOKUP.format(1, "none"))
            assert cursor.fetch_arrow_table().num_rows
        with flight_sql.connect(service.uri, db_kwargs=token) as conn:
            for sql in (LOOKUP.format(1, "none"), LOOKUP.format(2, "other")):
                with conn.cursor() as cursor, pytest.raises(adbc_driver_manager.Error) as caught:
                    cursor.adbc_prepare(sql)
                assert "does not exist" in str(caught.value), sql
            with conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM local.proj2.sessions")
                assert cursor.fetchone()[0] > 0
