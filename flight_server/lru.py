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
    """

    def __init__(
        self, max_entries: int, ttl_seconds: float | None = None, renew_on_read: bool = False
    ) -> None:
        self._max = max_entries
        self._ttl = ttl_seconds
        self._renew = renew_on_read and ttl_seconds is not None
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # (deadline, value)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            deadline, value = entry
            if self._ttl is not None:
                now = time.monotonic()
                if deadline <= now:
                    del self._entries[key]
                    return None
                if self._renew:
                    self._entries[key] = (now + self._ttl, value)
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        deadline = math.inf if self._ttl is None else time.monotonic() + self._ttl
        with self._lock:
            self._entries[key] = (deadline, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value if it was held and had not expired."""
        with self._lock:
            entry = self._entries.pop(key, None)
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
