"""Read a dataset root in any of the three Flywheel layouts into ``Version`` objects.

The whole root is listed once (a single flat listing on object stores) and parsed in
memory; only descriptions and schema files are then fetched, in one batch, and only for
version folders whose listing changed since the last refresh (``reuse.LoadMemo``).
Footers are read when a table is first used (``catalog.loading``), not here.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fsspec

from flight_server.catalog.isolation import Skip, isolated
from flight_server.catalog.loading import FooterLoader
from flight_server.catalog.model import Table, Version
from flight_server.catalog.reuse import LoadMemo, change_marker, listing_digest
from flight_server.catalog.timestamps import parse_created
from flight_server.storage.secrets import redact

log = logging.getLogger(__name__)

_DESCRIPTION = ("provenance", "dataset_description.json")
_SCHEMA_SUFFIX = ".schema.json"
_OLDEST = datetime.min.replace(tzinfo=UTC)
_NEWEST = datetime.max.replace(tzinfo=UTC)


class LayoutError(ValueError):
    """A dataset root with no valid version."""


@dataclass
class _VersionFolder:
    """What one listing tells about a version folder before its JSON files are read."""

    path: str
    is_latest_folder: bool
    schema_files: dict[str, str] = field(default_factory=dict)
    data_files: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    hive_tables: set[str] = field(default_factory=set)
    #: Every file of the folder as ``(path inside it, size, change marker)``.
    listing: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def description(self) -> str:
        """The path of the folder's ``dataset_description.json``."""
        return f"{self.path}/{'/'.join(_DESCRIPTION)}"


def read_versions(
    fs: fsspec.AbstractFileSystem, root: str, memo: LoadMemo | None = None
) -> tuple[list[Version], list[str]]:
    """The valid versions under ``root``, oldest first, and what was left out and why.

    Each version and each table is loaded behind its own boundary: a broken description,
    an unreadable file or anything else unexpected leaves out that version or table only.
    A version folder listed as ``memo``'s last refresh saw it is not read again.
    """
    root = root.rstrip("/") or "/"
    memo = LoadMemo() if memo is None else memo
    folders = _scan(fs, root)
    if not folders:
        raise LayoutError(f"no dataset version found under {root}")
    kind = type(fs).__name__
    digests = {f.path: listing_digest(f.listing) for f in folders}
    kept = {
        f.path: version
        for f in folders
        if (version := memo.version((kind, f.path), digests[f.path])) is not None
    }
    fresh = [f for f in folders if f.path not in kept]
    descriptions = _fetch_json(fs, [f.description for f in fresh])
    schemas = _fetch_json(fs, [p for f in fresh for p in f.schema_files.values()])

    problems: list[str] = []
    by_id: dict[str, Version] = {}
    # A legacy latest/ (or versions/latest/) folder holds the current version, even when
    # undated or also copied to versions/{id}/; only a version dated after it is newer.
    current: set[str] = set()
    for folder in sorted(folders, key=lambda f: f.is_latest_folder):
        version = kept.get(folder.path)
        if version is None:
            where = _relative(root, folder.path)
            description = descriptions.get(folder.description)
            if not isinstance(description, dict):
                problems.append(f"{where}: unreadable dataset_description.json ({description})")
                continue
            if folder.path.endswith("/latest"):
                current.add(str(description.get("version") or "latest"))
            built = isolated(
                "version",
                folder.path,
                lambda folder=folder, description=description: _build_version(
                    FooterLoader(fs, folder.path, memo.loaded), folder, description, schemas
                ),
            )
            if isinstance(built, Skip):
                problems.append(f"{where}: {built.reason}")
                continue
            version, table_problems = built
            problems += [f"{where}: {problem}" for problem in table_problems]
            if not table_problems:
                memo.keep_version((kind, folder.path), digests[folder.path], version)
        elif folder.path.endswith("/latest"):
            current.add(version.id)
        # Legacy layouts may hold the same version both in latest/ and versions/{id}/.
        by_id.setdefault(version.id, version)
    if not by_id:
        raise LayoutError(f"no valid dataset version under {root}: {'; '.join(problems)}")
    ordered = sorted(
        by_id.values(),
        key=lambda v: (v.created or (_NEWEST if v.id in current else _OLDEST), v.id in current),
    )
    for problem in problems:
        log.warning("dataset %s: %s", root, redact(problem))
    return ordered, problems


def _relative(root: str, path: str) -> str:
    """A path inside the dataset, as listings show it (the root is shown once, elsewhere)."""
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


def _scan(fs: fsspec.AbstractFileSystem, root: str) -> list[_VersionFolder]:
    """List the root once and sort every file into the version folder it belongs to."""
    try:
        listing = fs.find(root, detail=True)
    except FileNotFoundError:
        raise LayoutError(f"dataset root {root} does not exist") from None
    prefix_len = len(root.rstrip("/")) + 1
    relative = [
        (path[prefix_len:].split("/"), int(info.get("size") or 0), change_marker(info))
        for path, info in listing.items()
        if path.startswith(root)
    ]
    folders: dict[tuple[str, ...], _VersionFolder] = {}
    for parts, _size, _marker in relative:
        key = _version_key(parts)
        if key and parts[len(key) :] == list(_DESCRIPTION):
            folders[key] = _VersionFolder(f"{root}/{'/'.join(key)}", key == ("latest",))
    for parts, size, marker in relative:
        key = _version_key(parts)
        if key in folders:
            inner = parts[len(key) :]
            folders[key].listing.append(("/".join(inner), size, marker))
            _classify(folders[key], inner, f"{root}/{'/'.join(parts)}", size)
    return list(folders.values())


def _version_key(parts: list[str]) -> tuple[str, ...] | None:
    """The version folder a relative path sits in: ``versions/{id}`` or ``latest``."""
    if len(parts) > 2 and parts[0] == "versions":
        return ("versions", parts[1])
    if len(parts) > 1 and parts[0] == "latest":
        return ("latest",)
    return None


def _classify(folder: _VersionFolder, parts: list[str], path: str, size: int) -> None:
    """Record a file as a schema file or a table's data file; ignore anything else."""
    if len(parts) == 2 and parts[0] == "schemas" and parts[1].endswith(_SCHEMA_SUFFIX):
        folder.schema_files[parts[1].split(".", 1)[0]] = path
    elif len(parts) >= 3 and parts[0] == "tables":
        table, inner = parts[1], parts[2:]
        if any(p.startswith(("_", ".")) for p in inner) or not inner[-1].endswith(".parquet"):
            return
        folder.data_files[table].append((path, size))
        if any("=" in p for p in inner[:-1]):
            folder.hive_tables.add(table)


def _fetch_json(fs: fsspec.AbstractFileSystem, paths: list[str]) -> dict[str, object]:
    """Fetch and parse JSON files in one batch; failures become error strings."""
    if not paths:
        return {}
    raw = fs.cat(paths, on_error="return")
    if not isinstance(raw, dict):  # a single path comes back bare
        raw = {paths[0]: raw}
    parsed: dict[str, object] = {}
    for path, content in raw.items():
        if isinstance(content, Exception):
            parsed[path] = f"{type(content).__name__}: {content}"
            continue
        try:
            parsed[path] = json.loads(content)
        except (ValueError, UnicodeDecodeError) as exc:
            parsed[path] = f"invalid JSON: {exc}"
    return parsed


def _build_version(
    loader: FooterLoader,
    folder: _VersionFolder,
    description: dict,
    schemas: Mapping[str, object],
) -> tuple[Version, list[str]]:
    """Combine a description, its schema files and the data files into a ``Version``.

    A table that cannot be built is left out, with its reason among the problems returned.
    """
    folder_name = folder.path.rsplit("/", 1)[-1]
    version_id = str(description.get("version") or folder_name)
    described = description.get("tables") if isinstance(description.get("tables"), dict) else {}
    names = set(folder.schema_files) | set(described)
    tables = {}
    problems: list[str] = []
    for name in sorted(names):
        files = folder.data_files.get(name)
        if not files:
            continue
        schema = schemas.get(folder.schema_files.get(name, ""), {})
        if not isinstance(schema, dict):
            problems.append(f"table {name}: schema file ignored ({schema})")
            schema = {}
        entry = described.get(name)
        built = isolated(
            "table",
            f"{folder.path}/tables/{name}",
            lambda name=name, files=files, schema=schema, entry=entry: _build_table(
                name,
                loader,
                sorted(files),
                name in folder.hive_tables,
                schema,
                entry if isinstance(entry, dict) else {},
            ),
        )
        if isinstance(built, Skip):
            problems.append(f"table {name}: {built.reason}")
        else:
            tables[name] = built
    version = Version(
        id=version_id,
        label=str(description.get("version_label") or version_id),
        created=parse_created(description.get("created")),
        path=folder.path,
        description=description.get("description") or None,
        tables=tables,
    )
    return version, problems


def _build_table(
    name: str,
    loader: FooterLoader,
    files: list[tuple[str, int]],
    hive: bool,
    schema: dict,
    described: dict,
) -> Table:
    """Remarks come from the schema file first, then from the description's table entry."""
    column_remarks: dict[str, str] = {}
    for source in (described, schema):
        properties = source.get("properties")
        if not isinstance(properties, dict):
            continue
        for column, spec in properties.items():
            if isinstance(spec, dict):
                text = spec.get("description") or spec.get("title")
                if isinstance(text, str) and text:
                    column_remarks[column] = text
    remarks = schema.get("description") or described.get("description")
    return Table(
        name=name,
        files=tuple(path for path, _size in files),
        sizes=tuple(size for _path, size in files),
        loader=loader,
        hive_partitioned=hive,
        remarks=remarks if isinstance(remarks, str) and remarks else None,
        column_remarks=column_remarks,
    )
