"""Load a query result into Spark: ADBC fetches Arrow on the driver, Spark takes it from there.

    pip install adbc-driver-flightsql 'pyspark>=4'   # and Java 17+
    python clients/examples/spark_arrow.py grpc://localhost:32010 "SELECT * FROM local.p.subjects"

The URI may also come from FW_FLIGHT_SQL_URI. This suits results that fit in the Spark
driver's memory; for whole tables read in parallel, see dask_parallel_read.py (the same
per-endpoint reads work inside a Spark ``mapInArrow``). Without pyspark installed the
script stops after fetching and says so.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def fetch_arrow(uri: str, sql: str) -> pa.Table:
    """The result of ``sql`` as an Arrow table."""
    # The server is read-only: autocommit is all it has (and ADBC warns when asked otherwise).
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def to_spark(table: pa.Table) -> DataFrame:
    """A Spark DataFrame of ``table`` with its Arrow types (int64 stays bigint, decimals keep
    their precision): Spark 4 takes a pyarrow Table as it is, where going through pandas
    would turn integers with nulls into doubles and infer decimal precision from the data."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("fw-flight-sql").getOrCreate()
    return spark.createDataFrame(table)


def main() -> None:
    uri = sys.argv[1] if len(sys.argv) > 1 else os.environ["FW_FLIGHT_SQL_URI"]
    sql = sys.argv[2] if len(sys.argv) > 2 else "SELECT 42 AS answer"
    table = fetch_arrow(uri, sql)
    print(f"fetched {table.num_rows} rows x {table.num_columns} columns as Arrow")
    try:
        frame = to_spark(table)
    except ImportError:
        print("pyspark is not installed: install it to get a Spark DataFrame")
        return
    frame.printSchema()
    frame.show(10)
    print(f"spark rows: {frame.count()}")


if __name__ == "__main__":
    main()
