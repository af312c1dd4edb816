"""A small thread-safe least-recently-used map, for caches that must stay bounded."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``max_entries`` values; the least recently used goes first.

    With ``ttl_seconds`` an entry also expires that long after it was stored (so what it
    caches, such as a permission check, is redone), or with ``renew_on_read`` that long
    after it was last read (so idle entries, such as sessions, are forgotten).

    With ``max_weight``, the entries also weigh at most that much in all, each as
    ``weight(key, value)``: for values that grow with what they cache (a SQL text's parse
    tree, a result's columns), so that a count of entries alone does not let a few large
    ones hold gigabytes. An entry heavier than ``max_weight`` alone is not kept.
    """

    def __init__(
        self,
        max_entries: int,
        ttl_seconds: float | None = None,
        renew_on_read: bool = False,
        *,
        max_weight: int | None = None,
        weight: Callable[[K, V], int] = lambda _key, _value: 0,
    ) -> None:
        self._max = max_entries
        self._ttl = ttl_seconds
        self._renew = renew_on_read and ttl_seconds is not None
        self._max_weight = math.inf if max_weight is None else max_weight
        self._weight = weight
        self._total = 0
        # key -> (deadline, value, weight)
        self._entries: OrderedDict[K, tuple[float, V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            deadline, value, weight = entry
            if self._ttl is not None:
                now = time.monotonic()
                if deadline <= now:
                    self._drop(key)
                    return None
                if self._renew:
                    self._entries[key] = (now + self._ttl, value, weight)
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        deadline = math.inf if self._ttl is None else time.monotonic() + self._ttl
        weight = self._weight(key, value)
        with self._lock:
            self._drop(key)
            if weight > self._max_weight:
                return
            self._entries[key] = (deadline, value, weight)
            self._total += weight
            while len(self._entries) > self._max or self._total > self._max_weight:
                self._drop(next(iter(self._entries)))

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value if it was held and had not expired."""
        with self._lock:
            entry = self._drop(key)
        if entry is None or (self._ttl is not None and entry[0] <= time.monotonic()):
            return None
        return entry[1]

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The cached value, or ``make()`` cached; ``make`` runs unlocked (it may be slow)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def _drop(self, key: K) -> tuple[float, V, int] | None:
        """Remove ``key``'s entry, if any (the lock is held)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total -= entry[2]
        return entry
