"""Names compared the way DuckDB compares them: ASCII letters regardless of case, the rest exactly.

Every decision that two names are the same table, schema, catalog or grant goes through
``fold``. Python's ``casefold`` would make ``\u017fessions`` (a long s) equal
``sessions`` while DuckDB binds them to different objects, and a guard that disagrees
with DuckDB about names can be walked around.
"""

from __future__ import annotations

import string

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(name: str) -> str:
    """``name`` as DuckDB matches it: A to Z lowered, every other character unchanged."""
    return name.translate(_ASCII_LOWER)
