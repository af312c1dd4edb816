"""``LoadedTables``: the budget of loaded files, eviction by use, one reader per table."""

from __future__ import annotations

import threading
import time

from flight_server.catalog.loading import LoadedTables
from flight_server.catalog.model import DataFile, LoadedFiles


def loaded(files: int) -> LoadedFiles:
    return LoadedFiles((tuple(DataFile(f"/d/{i}.parquet", 1, 1) for i in range(files)),))


def test_the_least_recently_used_tables_go_first_within_the_budget() -> None:
    held = LoadedTables(max_files=5)
    a, b, c = object(), object(), object()
    held.put(a, loaded(2))
    held.put(b, loaded(2))
    assert held.get(a) is not None  # a is now the most recently used
    held.put(c, loaded(2))
    assert held.get(b) is None and held.get(a) is not None and held.get(c) is not None
    assert held.held_files() == 4


def test_a_table_larger_than_the_budget_is_used_but_not_kept() -> None:
    held = LoadedTables(max_files=3)
    small, big = object(), object()
    held.put(small, loaded(2))
    assert held.get_or_read(big, lambda: loaded(4)).rows == 4
    assert held.get(big) is None and held.get(small) is not None


def test_callers_arriving_together_wait_for_one_read() -> None:
    held, token, reads = LoadedTables(), object(), []

    def read() -> LoadedFiles:
        reads.append(1)
        time.sleep(0.2)
        return loaded(3)

    results: list[LoadedFiles] = []
    threads = [
        threading.Thread(target=lambda: results.append(held.get_or_read(token, read)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1 and len({id(r) for r in results}) == 1


def test_a_failed_read_keeps_nothing() -> None:
    held, token = LoadedTables(), object()

    def fail() -> LoadedFiles:
        raise OSError("storage down")

    for _ in range(2):
        try:
            held.get_or_read(token, fail)
        except OSError:
            pass
        else:
            raise AssertionError("the failure was hidden")
    assert held.get(token) is None and held.get_or_read(token, lambda: loaded(1)).rows == 1
