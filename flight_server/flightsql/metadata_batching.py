"""Metadata replies as record batches under a byte budget, rows built as the stream is read.

Each batch of a DoGet stream is one gRPC message, and clients refuse messages over their
receive limit (gRPC's default 4 MiB, ADBC's 16 MiB): a reply sent in one piece, such as a
large site's tables with their schemas, fails whole. Rows are pulled only as batches fill,
so costly columns (a table's schema) are computed batch by batch while the earlier
batches are already on their way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa

#: A reply: row tuples in its schema's column order, pulled one by one, or a table built whole.
Reply = pa.Table | Iterable[Sequence[object]]

# About what a value adds to a batch: a string's or binary's offset, or a fixed-width slot.
_OFFSET_BYTES = 4
_SLOT_BYTES = 8
# Each buffer of a batch is padded to 8 bytes; a flat column has at most three.
_PADDING_PER_COLUMN = 3 * 7


def batches(reply: Reply, schema: pa.Schema, budget: int) -> Iterator[pa.RecordBatch]:
    """``reply``'s rows in order, in batches of at most ``budget`` bytes each in IPC form.

    A row larger than the budget alone goes in a batch of its own (nothing smaller can
    carry it); no batch is empty, so an empty reply is its schema only.
    """
    if isinstance(reply, pa.Table):
        for batch in reply.to_batches():
            yield from split(batch, budget)
        return
    fixed = pa.ipc.get_record_batch_size(_batch([], schema)) + _PADDING_PER_COLUMN * len(schema)
    pending: list[Sequence[object]] = []
    estimate = fixed
    for row in reply:
        size = sum(_value_bytes(value) for value in row)
        if pending and estimate + size > budget:
            yield from split(_batch(pending, schema), budget)
            pending, estimate = [], fixed
        pending.append(row)
        estimate += size
    if pending:
        yield from split(_batch(pending, schema), budget)


def split(batch: pa.RecordBatch, budget: int) -> Iterator[pa.RecordBatch]:
    """``batch`` in consecutive pieces of at most ``budget`` IPC bytes; a larger row alone.

    The row estimate of ``batches`` is only close for flat values; this measures, so
    nested values (unions, lists) and non-ASCII text keep to the budget too.
    """
    if batch.num_rows == 0:
        return
    size = pa.ipc.get_record_batch_size(batch)
    if size <= budget or batch.num_rows == 1:
        yield batch
        return
    parts = -(-size // budget)  # as many as even rows would need; uneven ones are cut again
    rows = -(-batch.num_rows // parts)
    for start in range(0, batch.num_rows, rows):
        # A copy of the rows, not a slice: a sliced dense union (SqlInfo's values) still
        # carries all of its children's values to the wire.
        taken = pa.array(range(start, min(start + rows, batch.num_rows)), pa.int64())
        yield from split(batch.take(taken), budget)


def _batch(rows: Sequence[Sequence[object]], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _value_bytes(value: object) -> int:
    """About what one value adds to a batch: its bytes and offset, or a fixed-width slot."""
    if isinstance(value, str):
        return len(value.encode()) + _OFFSET_BYTES
    if isinstance(value, bytes):
        return len(value) + _OFFSET_BYTES
    return _SLOT_BYTES
