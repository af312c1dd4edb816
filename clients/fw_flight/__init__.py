"""fw_flight: a small Python client for fw-flight-sql, in the spirit of fw-dataset.

import fw_flight
client = fw_flight.connect("grpc://127.0.0.1:32010", api_key="site.flywheel.io:key")
client.datasets()
sessions = client.dataset("fw://neuro/proj1").execute("SELECT * FROM sessions").df()
"""

from fw_flight.client import Client, Dataset, DatasetRef, Result, connect, parse_dataset_ref

__all__ = ["Client", "Dataset", "DatasetRef", "Result", "connect", "parse_dataset_ref"]
