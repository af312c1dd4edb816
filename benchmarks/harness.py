"""Timing and reporting shared by every benchmark: best-of-N runs and one results record.

Figures are best-of-N after a warm-up because other work on a shared machine only ever
makes a run slower; the best run is the closest to what the code can do.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa


def consume(batches: Iterable[pa.RecordBatch]) -> tuple[int, int]:
    """Read a stream to the end keeping only row and byte counts (bounded client memory)."""
    rows = size = 0
    for batch in batches:
        rows += batch.num_rows
        size += batch.nbytes
    return rows, size


def best_seconds(repeat: int, run: Callable[[], object], warmup: int = 1) -> tuple[float, object]:
    """The fastest of ``repeat`` timed runs after ``warmup`` untimed ones, and its result."""
    result: object = None
    for _ in range(warmup):
        result = run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def interleaved_best(
    runs: dict[str, Callable[[], object]], repeat: int
) -> tuple[dict[str, float], dict[str, object]]:
    """Best seconds and last result of each run, timed in turns: one warm-up round, then
    ``repeat`` rounds of every run, so a busy spell on a shared machine hits them all alike.
    """
    best = dict.fromkeys(runs, float("inf"))
    results: dict[str, object] = {}
    for round_index in range(repeat + 1):
        for name, run in runs.items():
            start = time.perf_counter()
            results[name] = run()
            if round_index:
                best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values`` by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def geometric_mean(values: Iterable[float]) -> float:
    return statistics.geometric_mean(list(values))


@dataclass(frozen=True)
class Check:
    """One of the issue's targets: the measured value against its bound."""

    name: str
    value: float
    target: str
    holds: bool


@dataclass
class Section:
    """One benchmark's figures (name → value, with units in the names) and its checks."""

    title: str
    figures: dict[str, float | int | str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def at_least(self, name: str, value: float, bound: float) -> None:
        self.checks.append(Check(name, round(value, 3), f">= {bound}", value >= bound))

    def at_most(self, name: str, value: float, bound: float) -> None:
        self.checks.append(Check(name, round(value, 3), f"<= {bound}", value <= bound))

    def print(self) -> None:
        print(f"\n== {self.title}")
        for name, value in self.figures.items():
            shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
            print(f"  {name:<58} {shown:>20}")
        for check in self.checks:
            verdict = "ok  " if check.holds else "MISS"
            print(f"  [{verdict}] {check.name:<51} {check.value:>8.3f}  (target {check.target})")
