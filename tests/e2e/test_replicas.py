"""Two replicas sharing a token secret and advertising each other: reads spread over both.

Each server runs as its own process, as pods do; their /metrics show which one served
what, and the union of the endpoints, each read where its location says, is the table.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_server.demo import GeneratedDataset, write_dataset
from tests.support import flight_process, free_port

TOKEN = "replica-token"
HEADER = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value
OPTIONS = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKEN}".encode())])


@dataclass(frozen=True)
class Replica:
    uri: str
    metrics_url: str

    def calls(self, method: str) -> float:
        """How many ``method`` calls this replica has answered with OK."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as reply:
            text = reply.read().decode()
        labels = rf'\{{[^}}]*method="{method}"[^}}]*status="OK"[^}}]*\}}'
        pattern = rf"^fw_flight_sql_calls_total{labels} (\S+)$"
        return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    """Small files, so most tables span several and get several endpoints."""
    root = tmp_path_factory.mktemp("replicas") / "proj1"
    return write_dataset(str(root), subjects=40, versions=1, chunk_rows=20)


@pytest.fixture(scope="module")
def replicas(chunked: GeneratedDataset) -> Iterator[tuple[Replica, Replica]]:
    ports = [free_port() for _ in range(4)]
    uris = [f"grpc://127.0.0.1:{port}" for port in ports[:2]]
    env = {
        "FW_FLIGHT_SQL_AUTH__TOKEN_SECRET": "a secret every replica shares",
        "FW_FLIGHT_SQL_AUTH__TOKENS": json.dumps(
            [{"token": TOKEN, "user": "u", "datasets": ["*"]}]
        ),
        "FW_FLIGHT_SQL_LIMITS__PARTITION_MIN_ROWS": "1",
        "FW_FLIGHT_SQL_ADVERTISED_LOCATIONS": json.dumps(uris),
    }
    with ExitStack() as stack:
        started = []
        for port, ops_port in ((ports[0], ports[2]), (ports[1], ports[3])):
            command = [sys.executable, "-m", "flight_server", "serve", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--ops-port", str(ops_port)]
            command += ["--dataset", f"proj1={chunked.root}"]
            uri, _process = stack.enter_context(flight_process(command, port, env=env))
            started.append(Replica(uri, f"http://127.0.0.1:{ops_port}/metrics"))
        yield started[0], started[1]


def sorted_rows(table: pa.Table) -> list[tuple]:
    return sorted(tuple(repr(v) for v in row.values()) for row in table.to_pylist())


def read_where_located(info: flight.FlightInfo) -> list[pa.Table]:
    """Each endpoint read from its first location, as pyarrow and ADBC clients do."""
    parts = []
    for endpoint in info.endpoints:
        client = flight.connect(endpoint.locations[0].uri.decode())
        parts.append(client.do_get(endpoint.ticket, OPTIONS).read_all())
        client.close()
    return parts


def test_a_partitioned_read_spreads_over_both_replicas(
    replicas: tuple[Replica, Replica], chunked: GeneratedDataset
) -> None:
    first, second = replicas
    client = flight.connect(first.uri)
    descriptor = flight.FlightDescriptor.for_path("local", "proj1", "files")
    info = client.get_flight_info(descriptor, OPTIONS)
    assert len(info.endpoints) >= 4
    for endpoint in info.endpoints:
        # The chosen replica first, the other as a fallback.
        assert {location.uri.decode() for location in endpoint.locations} == {
            first.uri,
            second.uri,
        }
    chosen = [endpoint.locations[0].uri.decode() for endpoint in info.endpoints]
    assert abs(chosen.count(first.uri) - chosen.count(second.uri)) <= 1  # round-robin

    # The whole table from one replica, one endpoint, tickets redeemed where issued.
    whole = client.get_flight_info(descriptor, OPTIONS)
    expected = pa.concat_tables(
        client.do_get(endpoint.ticket, OPTIONS).read_all() for endpoint in whole.endpoints
    )
    assert expected.num_rows == chunked.latest.tables["files"].rows

    before = (first.calls("DoGet"), second.calls("DoGet"))
    parts = read_where_located(info)
    after = (first.calls("DoGet"), second.calls("DoGet"))
    # Tickets the first replica signed were served by the second, and by the first.
    assert after[0] - before[0] == chosen.count(first.uri) > 0
    assert after[1] - before[1] == chosen.count(second.uri) > 0
    union = pa.concat_tables(parts)
    assert union.schema.equals(expected.schema)
    assert union.num_rows == expected.num_rows
    assert sorted_rows(union) == sorted_rows(expected)


def test_every_table_reads_exactly_across_replicas(
    replicas: tuple[Replica, Replica], chunked: GeneratedDataset
) -> None:
    first, _second = replicas
    client = flight.connect(first.uri)
    for name, generated in chunked.latest.tables.items():
        info = client.get_flight_info(
            flight.FlightDescriptor.for_path("local", "proj1", name), OPTIONS
        )
        parts = read_where_located(info)
        union = pa.concat_tables(parts) if parts else info.schema.empty_table()
        assert union.num_rows == generated.rows, name
        assert union.schema.equals(info.schema), name


def test_adbc_queries_follow_the_locations(replicas: tuple[Replica, Replica]) -> None:
    """ADBC dials an endpoint's location: queries planned on one replica run on both."""
    first, second = replicas
    query = "SELECT count(*) AS n FROM local.proj1.files"
    with flight_sql.connect(first.uri, db_kwargs={HEADER: f"Bearer {TOKEN}"}) as conn:
        conn.adbc_get_info()  # whatever the driver asks when it connects, asked already
        before = (first.calls("DoGet"), second.calls("DoGet"))
        counts = set()
        for _ in range(4):
            with conn.cursor() as cursor:
                cursor.execute(query)
                counts.add(cursor.fetchone()[0])
        after = (first.calls("DoGet"), second.calls("DoGet"))
    assert len(counts) == 1
    # One FlightInfo after another names the replicas in turn.
    assert after[0] - before[0] == after[1] - before[1] == 2


def test_adbc_partitions_are_read_where_located(replicas: tuple[Replica, Replica]) -> None:
    """``adbc_read_partition`` dials the partition's location, on a connection to one replica."""
    first, second = replicas
    query = "SELECT * FROM local.proj1.files"
    with flight_sql.connect(first.uri, db_kwargs={HEADER: f"Bearer {TOKEN}"}) as conn:
        with conn.cursor() as cursor:
            cursor.execute(query)
            expected = cursor.fetch_arrow_table()
        before = (first.calls("DoGet"), second.calls("DoGet"))
        parts = []
        with conn.cursor() as cursor:
            for _ in range(2):  # two FlightInfos: each replica comes first in one
                partitions, _schema = cursor.adbc_execute_partitions(query)
                for partition in partitions:
                    cursor.adbc_read_partition(partition)
                    parts.append(cursor.fetch_arrow_table())
        after = (first.calls("DoGet"), second.calls("DoGet"))
    assert after[0] > before[0] and after[1] > before[1]
    assert after[0] - before[0] + after[1] - before[1] == len(parts)
    for part in parts:
        assert part.schema.equals(expected.schema)
    union = pa.concat_tables(parts)
    assert sorted_rows(union) == sorted_rows(pa.concat_tables([expected, expected]))


def test_adbc_falls_back_to_the_next_location(chunked: GeneratedDataset) -> None:
    """An endpoint naming an unreachable replica first is read from the one after it."""
    port, dead = free_port(), free_port()
    env = {
        "FW_FLIGHT_SQL_AUTH__TOKENS": json.dumps(
            [{"token": TOKEN, "user": "u", "datasets": ["*"]}]
        ),
        "FW_FLIGHT_SQL_LIMITS__PARTITION_MIN_ROWS": "1",
        "FW_FLIGHT_SQL_ADVERTISED_LOCATIONS": json.dumps(
            [f"grpc://127.0.0.1:{dead}", f"grpc://127.0.0.1:{port}"]
        ),
    }
    command = [sys.executable, "-m", "flight_server", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--ops-port", "0", "--dataset", f"proj1={chunked.root}"]
    with (
        flight_process(command, port, env=env) as (uri, _process),
        flight_sql.connect(uri, db_kwargs={HEADER: f"Bearer {TOKEN}"}) as conn,
    ):
        for _ in range(2):  # one of the two names the dead replica first
            with conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM local.proj1.files")
                assert cursor.fetchone()[0] == chunked.latest.tables["files"].rows
