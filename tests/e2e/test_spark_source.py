"""fw_flight.spark in a real local[2] Spark: partitions are endpoints, types are exact."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from fw_flight.client import connection_options
from fw_flight.spark import FlightSqlDataSource
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from flight_server.demo import GeneratedDataset
from tests.support import credentialed_server

TOKEN = "spark-source-token"
FILES_SQL = (
    'SELECT id, "parents.session", size, size_mb, "classification.Intent", modified'
    " FROM local.proj1.files WHERE size > 0"
)
ACQUISITIONS_SQL = (
    'SELECT id, "parents.session", modality, timestamp, tags'
    " FROM local.proj1.acquisitions WHERE series_number > 0"
)
#: A Filter operator in a Spark plan (not the scan's "RuntimeFilters: []").
FILTER_NODE = re.compile(r"(^|[-)] )Filter ", re.MULTILINE)
#: A small local Spark: no UI, loopback only, a JVM tuned to start fast (as the examples' test).
SPARK_ENV = {
    "SPARK_LOCAL_IP": "127.0.0.1",
    "PYSPARK_PYTHON": sys.executable,
    "PYSPARK_SUBMIT_ARGS": "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell",
}


@pytest.fixture(scope="module")
def uri(demo: GeneratedDataset) -> Iterator[str]:
    """A server that wants credentials: a static token, or a user name and password."""
    with credentialed_server(demo.root, TOKEN, "spark") as served:
        yield served


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """Spark local[2] in a session time zone that is not UTC, with filter pushdown on."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SPARK_ENV.items():
            patch.setenv(name, value)
        session = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "America/New_York")
            .config("spark.sql.python.filterPushdown.enabled", "true")
            .getOrCreate()
        )
        session.dataSource.register(FlightSqlDataSource)
        try:
            yield session
        finally:
            session.stop()


def read(spark: SparkSession, uri: str, table: str | None = None, **options: str) -> DataFrame:
    """``spark.read.format("fw-flight-sql")`` with the token, as a user writes it."""
    reader = spark.read.format("fw-flight-sql").options(uri=uri, token=TOKEN, **options)
    return reader.load(table) if table else reader.load()


def adbc(uri: str, sql: str) -> tuple[pa.Table, int]:
    """ADBC's result for ``sql`` and how many partitions it offers."""
    with flight_sql.connect(uri, db_kwargs=connection_options(bearer=TOKEN), autocommit=True) as c:
        with c.cursor() as cursor:
            partitions, _schema = cursor.adbc_execute_partitions(sql)
        with c.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetch_arrow_table(), len(partitions)


def executed_plan(frame: DataFrame) -> str:
    return frame._jdf.queryExecution().executedPlan().toString()


def rows(table: pa.Table, by: str = "id") -> list[dict]:
    return table.sort_by(by).to_pylist()


def test_a_table_reads_one_partition_per_endpoint_with_adbc_s_rows(
    spark: SparkSession, uri: str
) -> None:
    with flight.connect(uri) as client:
        call = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKEN}".encode())])
        path = flight.FlightDescriptor.for_path("local", "proj1", "acquisitions")
        endpoints = len(client.get_flight_info(path, call).endpoints)
    assert endpoints > 1  # partitioned by modality: files in groups
    frame = spark.read.format("fw-flight-sql").options(uri=uri, token=TOKEN)
    frame = frame.load("local.proj1.acquisitions")
    assert frame.rdd.getNumPartitions() == endpoints
    expected, _ = adbc(uri, "SELECT * FROM local.proj1.acquisitions")
    assert frame.count() == expected.num_rows
    assert rows(frame.toArrow()) == rows(expected)


def test_the_schema_is_exact(spark: SparkSession, uri: str) -> None:
    files = read(spark, uri, "local.proj1.files").schema
    assert files["parents.session"].dataType == StringType()
    assert files["size_mb"].dataType == DecimalType(10, 2)
    assert files["classification.Intent"].dataType == ArrayType(StringType())
    assert files["modified"].dataType == TimestampType()
    sessions = read(spark, uri, "proj1.sessions", catalog="local").schema
    assert sessions["timestamp_local"].dataType == TimestampNTZType()


def test_a_query_reads_its_endpoints_with_exact_values(spark: SparkSession, uri: str) -> None:
    expected, partitions = adbc(uri, ACQUISITIONS_SQL)
    assert partitions > 1  # a filter over one table of several files is partitioned
    frame = read(spark, uri, query=ACQUISITIONS_SQL)
    assert frame.rdd.getNumPartitions() == partitions
    assert rows(frame.toArrow()) == rows(expected)
    # A filter pushed into a table's read keeps it partitioned, as the same SQL is.
    table = read(spark, uri, "local.proj1.acquisitions", pushFilters="true")
    pushed = table.filter("series_number > 0").select(
        *(F.col(f"`{name}`") for name in expected.column_names)
    )
    assert pushed.rdd.getNumPartitions() == partitions
    assert rows(pushed.toArrow()) == rows(expected)

    expected, _ = adbc(uri, FILES_SQL)
    got = read(spark, uri, query=FILES_SQL).toArrow()
    assert got.column_names == expected.column_names
    assert rows(got) == rows(expected)
    row = rows(got)[0]
    assert isinstance(row["size_mb"], Decimal) and row["modified"].utcoffset() is not None


def test_select_and_filter_are_pushed_into_the_query(spark: SparkSession, uri: str) -> None:
    expected, _ = adbc(uri, FILES_SQL)
    session, size = expected["parents.session"][0].as_py(), expected["size"][0].as_py()
    modified = min(expected["modified"].to_pylist())
    pushed, kept = (
        read(spark, uri, "local.proj1.files", **options)
        .filter(
            (F.col("`parents.session`") == session)
            & (F.col("size") >= size)
            & (F.col("modified") >= modified + dt.timedelta(microseconds=1))
            & F.col("id").startswith(expected["id"][0].as_py()[:1])
        )
        .select("id", "`parents.session`", "size_mb")
        for options in ({"pushFilters": "true"}, {})
    )
    # Every condition went into the server's query: Spark filters nothing after the scan.
    assert FILTER_NODE.search(executed_plan(kept))
    assert not FILTER_NODE.search(executed_plan(pushed))
    wanted = (
        'SELECT id, "parents.session", size_mb FROM local.proj1.files WHERE'
        f" \"parents.session\" = '{session}' AND size >= {size}"
        f" AND modified > TIMESTAMPTZ '{modified.isoformat()}'"
        f" AND starts_with(id, '{expected['id'][0].as_py()[:1]}')"
    )
    reference, _ = adbc(uri, wanted)
    assert reference.num_rows > 0
    assert rows(pushed.toArrow()) == rows(reference) == rows(kept.toArrow())


def test_credentials_are_required_and_basic_logins_work(spark: SparkSession, uri: str) -> None:
    expected, _ = adbc(uri, "SELECT * FROM local.proj1.subjects")
    basic = spark.read.format("fw-flight-sql").options(uri=uri, username="ana", password="pw")
    basic = basic.load("local.proj1.subjects")
    assert basic.count() == expected.num_rows
    anonymous = spark.read.format("fw-flight-sql").option("uri", uri)
    with pytest.raises(Exception, match=r"(?i)unauthenticated|credentials"):
        anonymous.load("local.proj1.subjects").count()


def test_the_package_imports_without_pyspark() -> None:
    code = "import sys; sys.modules['pyspark'] = None; import fw_flight; print('ok')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
