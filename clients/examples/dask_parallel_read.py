"""Read one table in parallel with Dask: one partition per Flight endpoint.

The server splits a table into balanced groups of files; each endpoint's ticket
streams one group, and together they return the table exactly once. Every Dask
task connects on its own, so the reads run on whichever workers Dask picks.

    python clients/examples/dask_parallel_read.py grpc://localhost:8815 neuro proj1 sessions
"""

from __future__ import annotations

import sys

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow.flight as flight


def _read_endpoint(uri: str, ticket: bytes) -> pd.DataFrame:
    with flight.connect(uri) as client:
        return client.do_get(flight.Ticket(ticket)).read_pandas()


def read_table(uri: str, catalog: str, schema: str, table: str) -> dd.DataFrame:
    """A lazy Dask DataFrame with one partition per endpoint of ``catalog.schema.table``."""
    with flight.connect(uri) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_path(catalog, schema, table))
    meta = info.schema.empty_table().to_pandas()
    parts = [
        dask.delayed(_read_endpoint)(uri, endpoint.ticket.ticket) for endpoint in info.endpoints
    ]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def main() -> None:
    from dask.distributed import Client, LocalCluster

    uri, catalog, schema, table = sys.argv[1:5]
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        frame = read_table(uri, catalog, schema, table)
        print(f"{frame.npartitions} partitions, {len(frame)} rows")


if __name__ == "__main__":
    main()
