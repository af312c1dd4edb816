"""fw_flight: a small Python client for fw-flight-sql, in the spirit of fw-dataset.

Installed by ``pip install 'fw-flight-sql[client]'``; ``.df()`` and ``.pl()`` need the
``dataframes`` extra (pandas, Polars).

import fw_flight
client = fw_flight.connect("grpc://127.0.0.1:32010")  # api_key="site.flywheel.io:KEY" for a site
client.datasets()
sessions = client.dataset("local.proj1").execute("SELECT * FROM sessions").df()
"""

from fw_flight.client import (
    Client,
    Dataset,
    DatasetNotFound,
    DatasetRef,
    Result,
    connect,
    parse_dataset_ref,
)

__all__ = [
    "Client",
    "Dataset",
    "DatasetNotFound",
    "DatasetRef",
    "Result",
    "connect",
    "parse_dataset_ref",
]
