"""Credentials never shown: every location, reason and log line about storage goes through here.

Two nets, because messages come from libraries we do not control: every secret option
value a location has carried is remembered and replaced wherever it appears, and any
``name=value`` pair with a credential's name (a storage URL's query, a connection string)
is masked even when its value was never seen.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

MASK = "***"

#: Option names whose values are secrets (Flywheel's, the backends', connection strings').
SECRET_OPTIONS = frozenset(
    {
        "secret_access_key",
        "session_token",
        "access_key",
        "account_key",
        "sas_token",
        "connection_string",
        "client_secret",
        "application_credentials",
        "password",
    }
)

_PAIR = re.compile(
    r"(?i)(\b(?:secret_access_key|session_token|access_key|account_?key|sas_token|"
    r"connection_string|client_secret|application_credentials|password|"
    r"sharedaccesssignature|sig)=)[^&;\s\"']+"
)
# A URL's user-info (``scheme://user:secret@host``).
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s?#]+@")
# Shorter values are too likely to be ordinary words ("true", a region) to replace blindly.
_MIN_SECRET = 6
_MAX_REMEMBERED = 4096

_lock = threading.Lock()
_known: OrderedDict[str, None] = OrderedDict()


def remember(options: Mapping[str, str]) -> None:
    """Keep the secret values among ``options`` so :func:`redact` finds them anywhere."""
    values = [
        str(v)
        for k, v in options.items()
        if k.lower() in SECRET_OPTIONS and len(str(v)) >= _MIN_SECRET
    ]
    if not values:
        return
    with _lock:
        for value in values:
            _known[value] = None
            _known.move_to_end(value)
        while len(_known) > _MAX_REMEMBERED:
            _known.popitem(last=False)


def redact(text: str) -> str:
    """``text`` with every known secret and every credential-named value masked."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _PAIR.sub(lambda m: m.group(1) + MASK, text)
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)


def display_url(url: str) -> str:
    """A location as typed by someone, for listings: no query, no user-info, nothing secret."""
    base = url.split("?", 1)[0]
    return redact(_USERINFO.sub(lambda m: m.group(1), base))
