"""File tails cached for DuckDB's repeated footer reads: same bytes, fetched once."""

from __future__ import annotations

import io
import struct

import fsspec
import pytest

from flight_server.storage.anchored import anchored
from flight_server.storage.tails import TailCache, TailCachedFile


def _parquet_like(body: int, footer: int) -> bytes:
    """Bytes shaped like a parquet file: magic, body, footer, footer length, magic."""
    payload = bytes(range(256)) * ((body + footer) // 256 + 1)
    return b"PAR1" + payload[:body] + payload[:footer] + struct.pack("<I", footer) + b"PAR1"


class _Reads:
    """A range reader over ``data`` that counts its calls."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, _path: str, start: int, end: int) -> bytes:
        self.calls.append((start, end))
        return self.data[start:end]


@pytest.mark.parametrize("footer", [100, 200_000])
def test_tail_covers_the_whole_footer_and_is_read_once(footer: int) -> None:
    data = _parquet_like(300_000, footer)
    reads, cache = _Reads(data), TailCache()
    tail = cache.tail("f", len(data), reads)
    assert data.endswith(tail) and len(tail) >= footer + 8
    assert cache.tail("f", len(data), reads) == tail
    assert len(reads.calls) == (1 if footer < 60_000 else 2)


@pytest.mark.parametrize(("start", "length"), [(0, 10), (299_000, 5_000), (-30, 100), (5, -1)])
def test_reads_match_the_file_inside_and_outside_the_tail(start: int, length: int) -> None:
    data = _parquet_like(300_000, 500)
    tail = TailCache().tail("f", len(data), _Reads(data))
    file = TailCachedFile(io.BytesIO(data), len(data), tail)
    file.seek(start, 2 if start < 0 else 0)
    expected = data[start:] if length < 0 else data[start : (start + length) or None]
    assert file.read(length)[: len(expected)] == expected


def test_reopening_a_file_reads_its_tail_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = fsspec.filesystem("memory")
    data = _parquet_like(100_000, 1_000)
    memory.pipe("/tails/t/part.parquet", data)
    ranges: list[tuple[int, int]] = []
    read_range = memory.cat_file

    def counted(path: str, start: int, end: int, **kwargs: object) -> bytes:
        ranges.append((start, end))
        return read_range(path, start=start, end=end, **kwargs)

    monkeypatch.setattr(memory, "cat_file", counted)
    fs = anchored(memory, "/tails/t", "fwtailtest")
    for _ in range(2):
        with fs.open("part.parquet") as file:
            file.seek(-1_008, 2)
            assert file.read() == data[-1_008:]
            file.seek(4)
            assert file.read(10) == data[4:14]
    assert ranges == [(len(data) - 65_536, len(data))]
