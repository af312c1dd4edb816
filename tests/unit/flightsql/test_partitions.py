"""``balanced_groups``: files split into endpoints of similar rows, every file exactly once."""

from __future__ import annotations

import random

from flight_server.flightsql.partitions import MAX_ENDPOINTS, balanced_groups, contiguous_groups


def test_every_file_lands_in_exactly_one_group() -> None:
    rng = random.Random(5)
    sizes = [(f"f{i:03}", rng.randrange(1, 10_000)) for i in range(100)]
    groups = balanced_groups(sizes)
    assert len(groups) == MAX_ENDPOINTS
    flat = [path for group in groups for path in group]
    assert sorted(flat) == [path for path, _ in sizes]


def test_groups_have_similar_totals() -> None:
    rows = dict([("a", 90), ("b", 60), ("c", 50), ("d", 40), ("e", 30), ("f", 30)])
    groups = balanced_groups(list(rows.items()), max_groups=3)
    totals = sorted(sum(rows[path] for path in group) for group in groups)
    # Largest first onto the lightest: 90, 60+30, 50+40, then the last 30 onto the first.
    assert totals == [90, 90, 120]


def test_files_keep_their_order_inside_a_group() -> None:
    sizes = [("z", 1), ("y", 5), ("x", 1), ("w", 5)]
    assert balanced_groups(sizes, max_groups=2) == [["z", "y"], ["x", "w"]]


def test_fewer_files_than_groups_gives_one_group_per_file() -> None:
    assert sorted(balanced_groups([("a", 3), ("b", 7)], max_groups=16)) == [["a"], ["b"]]


def test_one_group_and_no_files() -> None:
    assert balanced_groups([("a", 1), ("b", 2), ("c", 0)], max_groups=1) == [["a", "b", "c"]]
    assert balanced_groups([], max_groups=4) == []
    assert balanced_groups([("a", 0)], max_groups=0) == [["a"]]


def test_empty_files_still_get_a_group() -> None:
    groups = balanced_groups([("a", 0), ("b", 0), ("c", 0)], max_groups=2)
    assert sorted(path for group in groups for path in group) == ["a", "b", "c"]


def test_contiguous_runs_keep_file_order_and_balance_rows() -> None:
    rng = random.Random(7)
    sizes = [(f"f{i:03}", rng.randrange(1, 1_000)) for i in range(50)]
    runs = contiguous_groups(sizes, max_groups=4)
    assert len(runs) == 4
    assert [path for run in runs for path in run] == [path for path, _ in sizes]
    rows = dict(sizes)
    totals = [sum(rows[path] for path in run) for run in runs]
    assert max(totals) - min(totals) <= 2 * max(rows.values())


def test_contiguous_runs_of_empty_files_split_by_count() -> None:
    sizes = [(name, 0) for name in "abcdef"]
    assert contiguous_groups(sizes, max_groups=3) == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert contiguous_groups([("a", 5)], max_groups=3) == [["a"]]
