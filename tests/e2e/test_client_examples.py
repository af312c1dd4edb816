"""Every client example in clients/examples/ runs against a live server and gets real rows."""

from __future__ import annotations

import os
import subprocess
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import pytest

from tests.support import REPO

EXAMPLES = REPO / "clients" / "examples"
SQL = "SELECT id FROM local.proj1.subjects"
#: A bigint with nulls and a decimal(10, 2): the types a trip through pandas loses.
SPARK_SQL = (
    "SELECT label, CASE WHEN visit = 1 THEN age END AS age, weight FROM local.proj1.sessions"
)
#: A small local Spark: one core, no UI, loopback only, a JVM tuned to start fast.
SPARK_ENV = {
    "SPARK_LOCAL_IP": "127.0.0.1",
    "PYSPARK_SUBMIT_ARGS": " ".join(
        [
            "--master local[1] --conf spark.ui.enabled=false",
            "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell",
        ]
    ),
}


@pytest.fixture(scope="module")
def subject_count(server_uri: str) -> int:
    with flight_sql.connect(server_uri) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM local.proj1.subjects")
        (count,) = cursor.fetchone()
    assert count > 0
    return int(count)


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The server is read-only: examples connect in autocommit, so ADBC has nothing to warn.
    assert "Cannot disable autocommit" not in result.stderr
    return result.stdout


def test_pandas_example(server_uri: str, subject_count: int) -> None:
    output = _run("pandas_adbc.py", server_uri, SQL)
    assert f"{subject_count} rows x 1 columns" in output


def test_polars_example_takes_the_uri_from_the_environment(
    server_uri: str, subject_count: int
) -> None:
    output = _run("polars_read.py", env={"FW_FLIGHT_SQL_URI": server_uri})
    assert "1 rows x 1 columns" in output and "42" in output
    output = _run("polars_read.py", server_uri, SQL)
    assert f"{subject_count} rows x 1 columns" in output


def test_spark_example_keeps_the_arrow_types(server_uri: str) -> None:
    with flight_sql.connect(server_uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*), count(age) < count(*) FROM ({SPARK_SQL})")
        rows, some_null = cursor.fetchone()
    assert some_null
    output = _run("spark_arrow.py", server_uri, SPARK_SQL, env=SPARK_ENV)
    assert f"fetched {rows} rows x 3 columns as Arrow" in output
    assert "|-- age: long (nullable = true)" in output
    assert "|-- weight: decimal(10,2) (nullable = true)" in output
    assert f"spark rows: {rows}" in output


def test_dbeaver_guide_names_the_driver_and_url_format() -> None:
    guide = (EXAMPLES / "dbeaver.md").read_text()
    assert "jdbc:arrow-flight-sql://" in guide
    assert "flight-sql-jdbc-driver" in guide
