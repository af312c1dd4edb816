"""Read one table in parallel with Dask: one partition per Flight endpoint.

The server splits a table into balanced groups of files; each endpoint's ticket
streams one group, and together they return the table exactly once. Every Dask
task connects on its own, so the reads run on whichever workers Dask picks.
``fw_flight.dask`` (the ``dask`` extra) does the work; see docs/clients.md.

    python clients/examples/dask_parallel_read.py grpc://localhost:8815 neuro proj1 sessions
"""

from __future__ import annotations

import sys

import dask.dataframe as dd
import fw_flight.dask


def read_table(uri: str, catalog: str, schema: str, table: str) -> dd.DataFrame:
    """A lazy Dask DataFrame with one partition per endpoint of ``catalog.schema.table``."""
    return fw_flight.dask.read_table(uri, f"{catalog}.{schema}.{table}")


def main() -> None:
    from dask.distributed import Client, LocalCluster

    uri, catalog, schema, table = sys.argv[1:5]
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        frame = read_table(uri, catalog, schema, table)
        print(f"{frame.npartitions} partitions, {len(frame)} rows")


if __name__ == "__main__":
    main()
