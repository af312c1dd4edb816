"""``LruCache``: bounded by entries, least recently used first, and expiry by age or idleness."""

from __future__ import annotations

import pytest

from flight_server import lru
from flight_server.lru import LruCache
from tests.unit.clock import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(lru, "time", clock)
    return clock


def test_least_recently_used_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_putting_again_replaces_and_refreshes() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b")) == (10, None)


def test_without_ttl_entries_never_expire(clock: Clock) -> None:
    cache: LruCache[str, int] = LruCache(4)
    cache.put("a", 1)
    clock.advance(10**9)
    assert cache.get("a") == 1


def test_ttl_counts_from_when_stored(clock: Clock) -> None:
    cache: LruCache[str, int] = LruCache(4, ttl_seconds=10)
    cache.put("a", 1)
    clock.advance(9)
    assert cache.get("a") == 1  # reading does not extend the entry's life
    clock.advance(1)
    assert cache.get("a") is None
    cache.put("a", 2)
    assert cache.get("a") == 2


def test_renew_on_read_forgets_only_idle_entries(clock: Clock) -> None:
    cache: LruCache[str, int] = LruCache(4, ttl_seconds=10, renew_on_read=True)
    cache.put("busy", 1)
    cache.put("idle", 2)
    for _ in range(5):
        clock.advance(9)
        assert cache.get("busy") == 1
    assert cache.get("idle") is None


def test_pop_returns_only_live_values(clock: Clock) -> None:
    cache: LruCache[str, int] = LruCache(4, ttl_seconds=5)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.pop("a") == 1
    assert cache.get("a") is None
    assert cache.pop("missing") is None
    clock.advance(5)
    assert cache.pop("b") is None


def test_get_or_make_makes_once_until_expiry(clock: Clock) -> None:
    cache: LruCache[str, int] = LruCache(4, ttl_seconds=5)
    made: list[str] = []

    def make() -> int:
        made.append("x")
        return len(made)

    assert cache.get_or_make("k", make) == 1
    assert cache.get_or_make("k", make) == 1
    clock.advance(5)
    assert cache.get_or_make("k", make) == 2
    assert made == ["x", "x"]


def by_length(key: str, _value: int) -> int:
    return len(key)


def test_with_a_weight_the_least_recently_used_go_until_the_rest_fit() -> None:
    cache: LruCache[str, int] = LruCache(10, max_weight=10, weight=by_length)
    cache.put("aaaa", 1)
    cache.put("bbbb", 2)
    assert cache.get("aaaa") == 1  # now bbbb is the least recently used
    cache.put("cccc", 3)  # 12 > 10: bbbb goes
    assert (cache.get("aaaa"), cache.get("bbbb"), cache.get("cccc")) == (1, None, 3)
    cache.put("aaaa", 10)  # putting again weighs the key once
    cache.put("dd", 4)
    assert (cache.get("aaaa"), cache.get("cccc"), cache.get("dd")) == (10, 3, 4)


def test_a_key_heavier_than_the_whole_weight_is_not_kept() -> None:
    cache: LruCache[str, int] = LruCache(10, max_weight=3, weight=by_length)
    cache.put("ab", 1)
    cache.put("abcd", 2)
    assert (cache.get("ab"), cache.get("abcd")) == (1, None)


def test_popped_and_expired_entries_weigh_nothing(clock: Clock) -> None:
    cache: LruCache[str, int] = LruCache(10, ttl_seconds=5, max_weight=4, weight=by_length)
    cache.put("ab", 1)
    assert cache.pop("ab") == 1
    cache.put("cd", 2)
    clock.advance(6)
    assert cache.get("cd") is None
    cache.put("wxyz", 3)  # fits only if neither of the others still counts
    assert cache.get("wxyz") == 3
