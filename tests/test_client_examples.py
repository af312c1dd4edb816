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
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
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


def test_spark_example_fetches_arrow(server_uri: str, subject_count: int) -> None:
    output = _run("spark_arrow.py", server_uri, SQL)
    assert f"fetched {subject_count} rows x 1 columns as Arrow" in output
    pyspark_installed = "pyspark is not installed" not in output
    if pyspark_installed:
        assert f"spark rows: {subject_count}" in output


def test_dbeaver_guide_names_the_driver_and_url_format() -> None:
    guide = (EXAMPLES / "dbeaver.md").read_text()
    assert "jdbc:arrow-flight-sql://" in guide
    assert "flight-sql-jdbc-driver" in guide
