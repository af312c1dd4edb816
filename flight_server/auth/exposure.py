"""The start-up rule: no anonymous server on an address other machines can reach."""

from __future__ import annotations

import ipaddress


class ExposureError(Exception):
    """The server would accept anonymous calls on a non-loopback address."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def check_exposure(host: str, *, anonymous: bool, allow_public_anonymous: bool = False) -> None:
    """Refuse to serve anonymous callers on ``host`` unless it is loopback or forced."""
    if anonymous and not allow_public_anonymous and not is_loopback(host):
        raise ExposureError(
            f"refusing to serve {host} without authentication: configure auth users, tokens "
            "or a Flywheel site, or bind to 127.0.0.1"
        )
