"""Login throttling, so password guessing and login floods stay cheap for the server.

After ``failures_before_backoff`` consecutive failed logins for a user name (or from a
client address, when the server knows it), further attempts are refused at once, without
a password check, for ``backoff_seconds``, a window that doubles with each further
failure up to ``backoff_max_seconds``; a successful login resets the name. Password checks
(scrypt, about 16 MiB and tens of milliseconds of CPU each) run a few at a time; a login
that cannot start one within ``check_wait_seconds`` is turned away, so a flood of logins
cannot take the CPU from queries.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flight_server.config import AuthSettings
from flight_server.lru import LruCache

#: Names and addresses remembered at most; the least recently failing are forgotten first.
MAX_TRACKED = 50_000
# A name or address with no failure for this many maximum windows starts afresh.
_FORGET_AFTER_WINDOWS = 10


class BackedOff(Exception):
    """Too many recent failures for the user name or the client address."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"too many failed logins; try again in {math.ceil(seconds)} s")


class ChecksBusy(Exception):
    """Every password-check slot stayed taken for the whole wait."""

    def __init__(self) -> None:
        super().__init__("too many logins at once; try again shortly")


@dataclass(frozen=True)
class _Failures:
    count: int
    last: float  # time.monotonic() of the latest failure


class LoginThrottle:
    """Backoff after failures, per user name and per client address, and a bound on the
    password checks running at once."""

    def __init__(
        self,
        *,
        failures_before_backoff: int,
        backoff_seconds: float,
        backoff_max_seconds: float,
        max_concurrent_checks: int,
        check_wait_seconds: float,
    ) -> None:
        self._threshold = failures_before_backoff
        self._first_window = backoff_seconds
        self._max_window = backoff_max_seconds
        self._wait = check_wait_seconds
        self._checks = threading.BoundedSemaphore(max_concurrent_checks)
        self._failures: LruCache[tuple[str, str], _Failures] = LruCache(
            MAX_TRACKED, ttl_seconds=_FORGET_AFTER_WINDOWS * backoff_max_seconds
        )
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> LoginThrottle:
        return cls(
            failures_before_backoff=auth.login_failures_before_backoff,
            backoff_seconds=auth.login_backoff_seconds,
            backoff_max_seconds=auth.login_backoff_max_seconds,
            max_concurrent_checks=auth.max_concurrent_password_checks,
            check_wait_seconds=auth.password_check_wait_seconds,
        )

    def check(self, user: str | None, address: str | None) -> None:
        """Raise ``BackedOff`` while the name or the address is in a backoff window."""
        now = time.monotonic()
        for key in _keys(user, address):
            failures = self._failures.get(key)
            if failures is not None and (left := self._window_end(failures) - now) > 0:
                raise BackedOff(left)

    def failed(self, user: str | None, address: str | None) -> None:
        """Count a failed login against the name and the address."""
        now = time.monotonic()
        with self._lock:  # read-modify-write: concurrent failures all count
            for key in _keys(user, address):
                previous = self._failures.get(key)
                self._failures.put(key, _Failures((previous.count if previous else 0) + 1, now))

    def succeeded(self, user: str) -> None:
        """Forget the name's failures (an address's stay: one account must not clear them)."""
        self._failures.pop(("user", user))

    @contextmanager
    def password_check(self, user: str | None, address: str | None) -> Iterator[None]:
        """Hold one of the password-check slots; raise ``ChecksBusy`` if none frees in time.

        The backoff is checked again once a slot is held: attempts that queued up behind
        a failure must not each get a guess.
        """
        if not self._checks.acquire(timeout=self._wait):
            raise ChecksBusy
        try:
            self.check(user, address)
            yield
        finally:
            self._checks.release()

    def _window_end(self, failures: _Failures) -> float:
        if failures.count < self._threshold:
            return -math.inf
        doublings = min(failures.count - self._threshold, 60)  # 2**60 outlasts any maximum
        return failures.last + min(self._first_window * 2.0**doublings, self._max_window)


def _keys(user: str | None, address: str | None) -> list[tuple[str, str]]:
    keys = [("user", user)] if user is not None else []
    if address is not None:
        keys.append(("address", address))
    return keys
