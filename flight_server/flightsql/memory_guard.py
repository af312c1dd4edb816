"""A ceiling on the server process's memory, which DuckDB's ``memory_limit`` does not give.

DuckDB's limit covers its buffer manager (hash tables, sorts, cached blocks), not the
strings and lists scalar functions build, nor pipeline and plan state: one
``SELECT length(repeat('x', 600000000))`` grows the process by over a gigabyte whatever
``memory_limit`` says. So the whole process's resident memory is read (cheaply, from
``/proc/self/statm``) while queries wait for DuckDB, and past the ceiling every running
query is stopped with a resources error. The server itself keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Share of the container's (or else the machine's) memory the default ceiling allows:
#: the rest is headroom for what is allocated between two readings and while stopped
#: queries unwind, so the kernel's OOM killer is not the one that acts.
DEFAULT_SHARE = 0.8
#: Seconds between two readings of the process's RSS.
INTERVAL_SECONDS = 0.05

_STATM = Path("/proc/self/statm")
_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def rss_bytes() -> int | None:
    """This process's resident memory now, or None where /proc is not available."""
    try:
        resident_pages = int(_STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def default_ceiling() -> int | None:
    """``DEFAULT_SHARE`` of the container's memory limit, or of the machine's memory."""
    available = [_physical_memory(), *(_cgroup_limit(path) for path in _CGROUP_LIMITS)]
    known = [size for size in available if size]
    return int(min(known) * DEFAULT_SHARE) if known else None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _cgroup_limit(path: Path) -> int | None:
    """A cgroup's memory limit; None when unlimited ("max", or v1's huge sentinel) or absent."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) < 2**60 else None


class MemoryCeiling:
    """Whether the process is over ``limit_bytes``, reading RSS at most every ``interval``.

    Asked by every thread that waits on DuckDB, so one reading serves them all.
    """

    def __init__(self, limit_bytes: int, interval: float = INTERVAL_SECONDS) -> None:
        self.limit_bytes = limit_bytes
        self._interval = interval
        self._read_at = 0.0
        self._over = False
        self._lock = threading.Lock()

    def exceeded(self) -> bool:
        now = time.monotonic()
        if now - self._read_at >= self._interval and self._lock.acquire(blocking=False):
            try:
                rss = rss_bytes()
                over = rss is not None and rss > self.limit_bytes
                if over and not self._over:
                    log.warning(
                        "memory ceiling: RSS %d MB is over %d MB; stopping running queries",
                        rss // 2**20,
                        self.limit_bytes // 2**20,
                    )
                self._over, self._read_at = over, now
            finally:
                self._lock.release()
        return self._over

    def message(self) -> str:
        return (
            f"the server ran short of memory (its ceiling is {self.limit_bytes // 2**20} MB)"
            " and stopped this query; try again later, or with a query that builds smaller"
            " values"
        )


def ceiling_of(setting: int | None) -> MemoryCeiling | None:
    """The ceiling ``limits.max_memory_bytes`` asks for: unset is the default, 0 is none."""
    limit = default_ceiling() if setting is None else setting
    if not limit:
        return None
    if rss_bytes() is None:
        log.warning("memory ceiling: /proc/self/statm is unreadable here; no ceiling applies")
        return None
    return MemoryCeiling(limit)
