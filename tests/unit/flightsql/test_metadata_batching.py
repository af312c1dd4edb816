"""``metadata_batching``: replies cut into batches under a byte budget, rows in order,
built only as the batches are pulled."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pyarrow as pa
import pytest

from flight_server.flightsql import schemas
from flight_server.flightsql.metadata_batching import batches
from flight_server.flightsql.sql_info import sql_info_table
from flight_server.flightsql.xdbc_types import xdbc_type_info_table

SCHEMA = schemas.TABLES_WITH_SCHEMA


def table_rows(count: int, seed: int = 3) -> list[tuple[str, str, str, str, bytes]]:
    """GetTables rows of uneven sizes, some names not ASCII."""
    rng = random.Random(seed)
    return [
        (
            "local",
            rng.choice(["proj", "prøj", "projet_été"]) + str(i % 7),
            f"table_{i:04}",
            "TABLE",
            rng.randbytes(rng.randrange(10, 2_000)),
        )
        for i in range(count)
    ]


def whole(rows: list[tuple]) -> pa.Table:
    """The reply in one piece."""
    columns = list(zip(*rows, strict=True))
    return pa.table([pa.array(c, f.type) for c, f in zip(columns, SCHEMA, strict=True)], SCHEMA)


def ipc_size(batch: pa.RecordBatch) -> int:
    return pa.ipc.get_record_batch_size(batch)


def test_rows_arrive_in_order_in_batches_under_the_budget() -> None:
    rows = table_rows(300)
    sent = list(batches(rows, SCHEMA, 16_384))
    assert len(sent) > 5
    assert all(ipc_size(batch) <= 16_384 for batch in sent)
    assert pa.Table.from_batches(sent, SCHEMA).equals(whole(rows))


def test_batches_are_filled_close_to_the_budget() -> None:
    rows = [("local", "proj", f"t{i:05}", "TABLE", b"x" * 500) for i in range(1_000)]
    sent = list(batches(rows, SCHEMA, 65_536))
    assert all(ipc_size(batch) > 0.9 * 65_536 for batch in sent[:-1])
    assert all(ipc_size(batch) <= 65_536 for batch in sent)


def test_rows_are_pulled_only_as_batches_fill() -> None:
    pulled = 0

    def rows() -> Iterator[tuple]:
        nonlocal pulled
        for row in table_rows(1_000):
            pulled += 1
            yield row

    stream = batches(rows(), SCHEMA, 16_384)
    first = next(stream)
    # The first batch's rows and the one that did not fit: nothing computed further ahead.
    assert pulled == first.num_rows + 1
    rest = sum(batch.num_rows for batch in stream)
    assert pulled == first.num_rows + rest == 1_000


def test_a_row_larger_than_the_budget_goes_alone() -> None:
    rows = table_rows(40)
    rows[17] = (*rows[17][:4], b"y" * 50_000)
    sent = list(batches(rows, SCHEMA, 8_192))
    oversized = [batch for batch in sent if ipc_size(batch) > 8_192]
    assert [batch.num_rows for batch in oversized] == [1]
    assert oversized[0]["table_name"][0].as_py() == "table_0017"
    assert pa.Table.from_batches(sent, SCHEMA).equals(whole(rows))


def test_an_empty_reply_is_no_batch() -> None:
    assert list(batches([], SCHEMA, 4_096)) == []
    assert list(batches(iter(()), SCHEMA, 4_096)) == []
    assert list(batches(SCHEMA.empty_table(), SCHEMA, 4_096)) == []


@pytest.mark.parametrize(
    ("reply", "budget"),
    [
        # Dense union values; its largest row (SQL_KEYWORDS) is 6 KiB.
        (sql_info_table([], server_name="fw-flight-sql", server_version="1.0"), 8_192),
        (xdbc_type_info_table(None), 2_048),  # lists
    ],
    ids=["sql_info", "xdbc_type_info"],
)
def test_built_tables_with_unions_and_lists_split_under_the_budget(
    reply: pa.Table, budget: int
) -> None:
    sent = list(batches(reply, reply.schema, budget))
    assert len(sent) > 1
    assert all(ipc_size(batch) <= budget for batch in sent)
    # What goes on the wire reads back as the reply.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, reply.schema) as writer:
        for batch in sent:
            writer.write_batch(batch)
    assert pa.ipc.open_stream(sink.getvalue()).read_all().equals(reply.combine_chunks())
