"""A small thread-safe cache with a time limit and a size bound, for remote key checks."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

_Value = TypeVar("_Value")


class TtlCache(Generic[_Value]):
    """Entries expire ``ttl_seconds`` after they are stored; the oldest go first when full."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, _Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _Value | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: str, value: _Value) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (time.monotonic() + self._ttl, value)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
