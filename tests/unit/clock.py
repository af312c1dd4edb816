"""A clock the test moves by hand, to stand in for a module's ``time`` without sleeping."""

from __future__ import annotations


class Clock:
    """``time()`` and ``monotonic()`` both read ``now``, which only ``advance`` changes."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
