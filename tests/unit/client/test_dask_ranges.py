"""fw_flight.dask's pure parts: record ranges that never split a record, and safe literals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from fw_flight.dask import _balanced_ranges, _condition, _literal
from hypothesis import given
from hypothesis import strategies as st


@given(st.lists(st.integers(1, 50), min_size=1, max_size=60), st.integers(1, 10))
def test_ranges_cover_every_key_once_in_order(counts: list[int], wanted: int) -> None:
    keys = list(range(len(counts)))
    ranges = _balanced_ranges(keys, counts, wanted)
    assert 1 <= len(ranges) <= wanted
    owners = [
        [
            j
            for j, (low, high) in enumerate(ranges)
            if low <= k and (k < high or (j == len(ranges) - 1 and k <= high))
        ]
        for k in keys
    ]
    assert all(len(owner) == 1 for owner in owners)
    assert [owner[0] for owner in owners] == sorted(owner[0] for owner in owners)
    assert ranges[0][0] == keys[0] and ranges[-1][1] == keys[-1]


def test_ranges_are_balanced_by_rows_not_keys() -> None:
    # One big record, then many small ones: the big one gets a partition to itself.
    assert _balanced_ranges(["a", "b", "c", "d", "e"], [100, 25, 25, 25, 25], 2) == [
        ("a", "b"),
        ("b", "e"),
    ]


def test_literals_quote_strings_and_type_times() -> None:
    assert _literal("it's") == "'it''s'"
    assert _literal(True) == "TRUE" and _literal(3) == "3" and _literal(Decimal("1.50")) == "1.50"
    assert _literal(dt.date(2025, 1, 2)) == "DATE '2025-01-02'"
    assert _literal(dt.datetime(2025, 1, 2, tzinfo=dt.UTC)) == (
        "TIMESTAMPTZ '2025-01-02T00:00:00+00:00'"
    )
    with pytest.raises(TypeError):
        _literal(float("nan"))


def test_conditions() -> None:
    assert _condition(("parents.session", "in", ["a", "b"])) == "\"parents.session\" IN ('a', 'b')"
    assert _condition(("x", "!=", None)) == '"x" IS NOT NULL'
    assert _condition(("x", "in", [])) == "FALSE"
    with pytest.raises(ValueError, match="operator"):
        _condition(("x", "~", 1))
    with pytest.raises(ValueError, match="list"):
        _condition(("x", "in", "ab"))
