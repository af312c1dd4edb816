"""Lenient parsing of the ``created`` timestamps writers put in dataset descriptions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Some writers emit more than six fractional digits, which datetime cannot hold.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_created(value: object) -> datetime | None:
    """Parse an ISO 8601 timestamp; ``None`` when missing or unparseable, UTC when naive."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _LONG_FRACTION.sub(r"\1", value.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
