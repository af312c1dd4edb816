"""Who is calling and which datasets they may see."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

#: Matches every catalog, or every dataset of a catalog, in a ``Grant``.
ANY = "*"

#: A dataset as grants know it: ``(catalog, name, Flywheel project id or None)``.
DatasetRef = tuple[str, str, str | None]


@dataclass(frozen=True)
class Grant:
    """Datasets as ``(catalog, name)`` pairs, either part possibly ``*``, and Flywheel
    project ids.

    Pairs match served names exactly, never a spelling: the engine resolves however a
    query spells a table to the dataset it shows before asking. Flywheel roles become
    project ids, because a group and label are only a name another project can share.
    """

    datasets: frozenset[tuple[str, str]]
    #: Flywheel project ids: a role grants the project itself, not whatever dataset carries
    #: its group and label (another project may have the same label, or a configured
    #: dataset the same name).
    projects: frozenset[str] = frozenset()

    @classmethod
    def of(cls, datasets: Iterable[tuple[str, str]]) -> Grant:
        return cls(frozenset(datasets))

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

    @classmethod
    def of_projects(cls, project_ids: Iterable[str]) -> Grant:
        return cls(frozenset(), frozenset(project_ids))

    def allows(
        self,
        catalog: str,
        name: str,
        project_id: str | None = None,
        centres: Collection[DatasetRef] = (),
    ) -> bool:
        """Whether the dataset is granted, by name or project id, or, for a federated
        dataset over ``centres``, because every one of its centres is.

        The union shows nothing a caller who may read each centre could not read
        centre by centre, and it is what makes a consortium view readable with Flywheel
        roles alone (they grant projects, never a federated dataset's name).
        """
        if self._allows_one(catalog, name, project_id):
            return True
        return bool(centres) and all(self._allows_one(*centre) for centre in centres)

    def _allows_one(self, catalog: str, name: str, project_id: str | None) -> bool:
        if project_id is not None and project_id in self.projects:
            return True
        return any(c in (ANY, catalog) and n in (ANY, name) for c, n in self.datasets)


@dataclass(frozen=True)
class Caller:
    """An authenticated (or, when configured, anonymous) caller."""

    user: str
    grant: Grant

    def may_see(
        self,
        catalog: str,
        name: str,
        project_id: str | None = None,
        centres: Collection[DatasetRef] = (),
    ) -> bool:
        """Whether dataset ``catalog.name`` (any of its versions), discovered from Flywheel
        project ``project_id`` if it was, or federated over ``centres`` if it is, is
        visible to this caller."""
        return self.grant.allows(catalog, name, project_id, centres)
