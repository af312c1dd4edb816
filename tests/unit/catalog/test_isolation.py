"""``run_units``: each unit behind its boundary and deadline, a bounded number at a time."""

from __future__ import annotations

import threading
import time

from flight_server.catalog.isolation import Skip, run_units


def test_results_keep_the_units_order_and_failures_stay_in_their_unit() -> None:
    def fails() -> int:
        raise KeyError("broken")

    units = [(f"u{i}", (lambda i=i: i)) for i in range(50)]
    units[7] = ("u7", fails)
    results = run_units("dataset", units, concurrency=3, timeout=30)
    assert results[7] == Skip("KeyError: 'broken'")
    assert [r for i, r in enumerate(results) if i != 7] == [i for i in range(50) if i != 7]


def test_no_more_than_concurrency_units_run_at_once() -> None:
    lock, now, most = threading.Lock(), [0], [0]

    def unit() -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.01)
        with lock:
            now[0] -= 1

    run_units("dataset", [(f"u{i}", unit) for i in range(20)], concurrency=3, timeout=30)
    assert most[0] == 3


def test_a_hung_unit_times_out_and_its_slot_goes_to_the_next() -> None:
    release = threading.Event()
    units = [("hung", release.wait), *((f"u{i}", (lambda i=i: i)) for i in range(5))]
    started = time.monotonic()
    try:
        # One slot: the units after the hung one run only once its deadline gives it up.
        results = run_units("dataset", units, concurrency=1, timeout=0.5)
    finally:
        release.set()
    assert 0.5 <= time.monotonic() - started < 5
    assert results == [Skip("timed out after 0.5 s"), 0, 1, 2, 3, 4]


def test_a_unit_started_late_still_meets_its_deadline() -> None:
    """The deadline is checked for units that start while the caller waits."""
    release = threading.Event()
    units = [*((f"u{i}", (lambda: time.sleep(0.05))) for i in range(3)), ("hung", release.wait)]
    started = time.monotonic()
    try:
        results = run_units("dataset", units, concurrency=1, timeout=0.3)
    finally:
        release.set()
    assert results[-1] == Skip("timed out after 0.3 s")
    assert time.monotonic() - started < 5
