"""Run SQL into a pandas DataFrame through the ADBC Flight SQL driver.

    pip install adbc-driver-flightsql pandas
    python clients/examples/pandas_adbc.py grpc://localhost:32010 "SELECT * FROM local.p.subjects"

The URI may also come from FW_FLIGHT_SQL_URI. Use grpc+tls:// for a TLS server.
"""

from __future__ import annotations

import os
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd


def read_sql(uri: str, sql: str) -> pd.DataFrame:
    """The whole result of ``sql`` as a DataFrame (Arrow all the way, no row conversion)."""
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_df()


def main() -> None:
    uri = sys.argv[1] if len(sys.argv) > 1 else os.environ["FW_FLIGHT_SQL_URI"]
    sql = sys.argv[2] if len(sys.argv) > 2 else "SELECT 42 AS answer"
    frame = read_sql(uri, sql)
    print(frame.head(10).to_string())
    print(f"{len(frame)} rows x {len(frame.columns)} columns")


if __name__ == "__main__":
    main()
