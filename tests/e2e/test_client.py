"""The fw_flight client against a real server."""

from __future__ import annotations

import fw_flight
import pyarrow as pa
import pytest

from flight_server.demo import GeneratedDataset


def test_parse_dataset_refs() -> None:
    assert fw_flight.parse_dataset_ref("fw://neuro/proj1") == fw_flight.DatasetRef("neuro", "proj1")
    assert fw_flight.parse_dataset_ref("neuro/proj 1") == fw_flight.DatasetRef("neuro", "proj 1")
    assert fw_flight.parse_dataset_ref("local.proj1") == fw_flight.DatasetRef("local", "proj1")
    with pytest.raises(ValueError, match="expected"):
        fw_flight.parse_dataset_ref("proj1")


def test_datasets_tables_and_results(server_uri: str, demo: GeneratedDataset) -> None:
    with fw_flight.connect(server_uri) as client:
        refs = client.datasets()
        assert fw_flight.DatasetRef("local", "proj1") in refs
        assert all("@" not in ref.schema for ref in refs)
        dataset = client.dataset("local/proj1")
        assert dataset.tables() == list(demo.exposed_tables)
        expected_rows = demo.row_counts()[demo.latest.label]["sessions"]
        assert dataset.table("sessions").arrow().num_rows == expected_rows
        assert len(dataset.table("sessions").df()) == expected_rows
        assert dataset.table("sessions").pl().height == expected_rows
        reader = client.execute('SELECT "parents.subject" FROM local.proj1.sessions').reader()
        assert isinstance(reader, pa.RecordBatchReader)
        assert sum(batch.num_rows for batch in reader) == expected_rows


def test_dataset_default_schema(server_uri: str, demo: GeneratedDataset) -> None:
    with fw_flight.connect(server_uri) as client:
        got = client.dataset("local/proj1").execute("SELECT count(*) AS n FROM subjects").arrow()
    assert got.to_pylist() == [{"n": demo.row_counts()[demo.latest.label]["subjects"]}]
