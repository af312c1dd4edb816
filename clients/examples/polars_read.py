"""Run SQL into a Polars DataFrame: ADBC fetches Arrow, Polars wraps it without copying.

    pip install adbc-driver-flightsql polars
    python clients/examples/polars_read.py grpc://localhost:32010 "SELECT * FROM local.p.subjects"

The URI may also come from FW_FLIGHT_SQL_URI.
"""

from __future__ import annotations

import os
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import polars as pl


def read_sql(uri: str, sql: str) -> pl.DataFrame:
    """The result of ``sql`` as a Polars DataFrame.

    ``pl.read_database(sql, connection=conn)`` works too; fetching Arrow directly
    shows what happens underneath.
    """
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        frame = pl.from_arrow(cursor.fetch_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def main() -> None:
    uri = sys.argv[1] if len(sys.argv) > 1 else os.environ["FW_FLIGHT_SQL_URI"]
    sql = sys.argv[2] if len(sys.argv) > 2 else "SELECT 42 AS answer"
    frame = read_sql(uri, sql)
    print(frame.head(10))
    print(f"{frame.height} rows x {frame.width} columns")


if __name__ == "__main__":
    main()
