"""Per-file bounds read from parquet footers: which columns, over all row groups."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flight_server.catalog.bounds import bounded_column, file_bounds


def bounds_of(
    tmp_path: Path, table: pa.Table, **options: object
) -> dict[str, tuple[object, object]]:
    path = tmp_path / "file.parquet"
    pq.write_table(table, path, **options)
    metadata = pq.read_metadata(path)
    found = file_bounds(metadata, metadata.schema.to_arrow_schema())
    return {name: (low, high) for name, low, high in found}


def test_only_id_and_parents_columns_are_bounded() -> None:
    assert bounded_column("id") and bounded_column("ID")
    assert bounded_column("parents.subject") and bounded_column("Parents.Session")
    assert not bounded_column("parents") and not bounded_column("subject_id")


def test_bounds_span_every_row_group_and_skip_nulls(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["m", "c", None, "x", "d"],
            "parents.subject": [None, None, None, None, "s"],  # one group of NULLs only
            "parents.n": pa.array([5, -3, 9, 0, 1], pa.int64()),
            "value": [1, 2, 3, 4, 5],  # not a lookup column
        }
    )
    assert bounds_of(tmp_path, table, row_group_size=2) == {
        "id": ("c", "x"),
        "parents.subject": ("s", "s"),
        "parents.n": (-3, 9),
    }


def test_dates_and_timestamps_come_back_as_python_values(tmp_path: Path) -> None:
    moment = datetime(2024, 1, 2, 3, tzinfo=UTC)
    table = pa.table(
        {
            "parents.day": [date(2024, 1, 1), date(2024, 2, 1)],
            "parents.at": pa.array([moment, moment], pa.timestamp("ms", "UTC")),
            "parents.naive": pa.array([datetime(2024, 1, 1)] * 2, pa.timestamp("us")),
        }
    )
    found = bounds_of(tmp_path, table)
    assert found["parents.day"] == (date(2024, 1, 1), date(2024, 2, 1))
    assert found["parents.at"] == (moment, moment)
    assert found["parents.naive"] == (datetime(2024, 1, 1), datetime(2024, 1, 1))


def test_no_bounds_without_statistics_or_for_other_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b"],
            "parents.ratio": [0.5, 1.5],  # floats: NaN orders unlike DuckDB
            "parents.blob": pa.array([b"a", b"b"]),
            "parents.ns": pa.array([1, 2], pa.timestamp("ns")),
            "parents.flag": [True, False],
            "parents": pa.array([{"subject": "a"}, {"subject": "b"}]),  # a nested field
        }
    )
    assert bounds_of(tmp_path, table) == {"id": ("a", "b")}
    assert bounds_of(tmp_path, table, write_statistics=False) == {}


def test_a_group_with_values_but_no_statistics_gives_no_bounds(tmp_path: Path) -> None:
    table = pa.table({"id": ["a", "b"], "parents.x": ["c", "d"]})
    assert bounds_of(tmp_path, table, write_statistics=["parents.x"]) == {"parents.x": ("c", "d")}
