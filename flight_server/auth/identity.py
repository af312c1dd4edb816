"""Who is calling and which datasets they may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flight_server.identifiers import fold

#: Matches every catalog, or every dataset of a catalog, in a ``Grant``.
ANY = "*"


@dataclass(frozen=True)
class Grant:
    """Datasets as ``(catalog, name)`` pairs, either part possibly ``*``; case-insensitive.

    Names are compared as DuckDB compares identifiers (``fold``): a grant must match
    however the caller spells a name, and never a name DuckDB holds apart.
    """

    datasets: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, datasets: Iterable[tuple[str, str]]) -> Grant:
        return cls(frozenset((fold(c), fold(n)) for c, n in datasets))

    @classmethod
    def everything(cls) -> Grant:
        return cls(frozenset({(ANY, ANY)}))

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Grant:
        """``catalog/name`` entries, as written in configuration (``neuro/*``, ``*``)."""
        pairs = []
        for entry in entries:
            catalog, _, name = entry.partition("/")
            pairs.append((catalog or ANY, name or ANY))
        return cls.of(pairs)

    def allows(self, catalog: str, name: str) -> bool:
        catalog, name = fold(catalog), fold(name)
        return any(c in (ANY, catalog) and n in (ANY, name) for c, n in self.datasets)


@dataclass(frozen=True)
class Caller:
    """An authenticated (or, when configured, anonymous) caller."""

    user: str
    grant: Grant

    def may_see(self, catalog: str, name: str) -> bool:
        """Whether dataset ``catalog.name`` (any of its versions) is visible to this caller."""
        return self.grant.allows(catalog, name)
