"""SQL LIKE patterns as used by the metadata commands' filter arguments."""

from __future__ import annotations

import re
from collections.abc import Callable


def like_matcher(pattern: str | None, escape: str = "\\") -> Callable[[str], bool]:
    """A predicate for ``pattern`` (``%`` any run, ``_`` one character); ``None`` matches all."""
    if pattern is None:
        return lambda _name: True
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == escape:
            parts.append(re.escape(next(chars, escape)))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda name: regex.fullmatch(name) is not None
