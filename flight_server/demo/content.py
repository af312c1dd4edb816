"""The synthetic Flywheel hierarchy behind the demo dataset.

The newest version's containers are generated once; every record remembers the
version it first appeared in, so older versions are true subsets (newer versions have
more sessions, and the acquisitions, files and analyses that hang off them).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from flight_server.demo.tables import TableSpec

Record = dict[str, Any]

_SINCE = "_since"  # index of the first version holding the record; not a column
_TAG_WORDS = ("pilot", "qc-pass", "qc-fail", "rescan", "phantom", "needs-review")
_GEARS = (
    ("mriqc", "24.0.2", "qa"),
    ("fmriprep", "25.1.0", "analysis"),
    ("dcm2niix", "2.1.0", "converter"),
)
_MR_SERIES = (
    ("T1w MPRAGE", "Structural", "T1"),
    ("T2w FLAIR", "Structural", "T2"),
    ("BOLD rest", "Functional", "T2*"),
)
# Session wall clocks are five hours behind UTC: the naive column differs from the UTC one.
_LOCAL_OFFSET = timedelta(hours=-5)


def hex_id(rng: random.Random) -> str:
    """A Flywheel-style 24-hex object id."""
    return f"{rng.getrandbits(96):024x}"


def _between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    span = (hi - lo) // timedelta(microseconds=1)
    return lo + timedelta(microseconds=rng.randrange(max(span, 1)))


def _tags(rng: random.Random, index: int) -> list[str] | None:
    # The first two rows pin the edge cases: an empty list and a NULL list.
    if index == 0:
        return []
    if index == 1:
        return None
    return sorted(rng.sample(_TAG_WORDS, rng.randrange(0, 3)))


def _text(rng: random.Random, index: int, choices: Sequence[str]) -> str | None:
    """A string column value; rows 0 and 1 are the empty string and NULL."""
    if index == 0:
        return ""
    if index == 1:
        return None
    return rng.choice(choices)


def _flag(rng: random.Random, index: int) -> bool | None:
    return None if index == 0 else rng.random() < 0.7


def _info(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True)


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


@dataclass
class World:
    """Every record of every table, each tagged with the version it appeared in."""

    records: dict[str, list[Record]] = field(default_factory=dict)
    # Tabular-data tables: one record list per source file.
    tabular: dict[str, list[list[Record]]] = field(default_factory=dict)

    def table(self, spec: TableSpec, version: int) -> pa.Table:
        """A container table as of one version, partition column included."""
        rows = [r for r in self.records.get(spec.name, []) if r[_SINCE] <= version]
        schema = pa.schema([pa.field(c.name, c.type) for c in spec.columns])
        return pa.Table.from_pylist(rows, schema=schema)

    def tabular_files(self, spec: TableSpec, version: int) -> list[pa.Table]:
        """A tabular-data table as one Arrow table per source file, each with its own columns."""
        tables = []
        for rows in self.tabular.get(spec.name, []):
            kept = [r for r in rows if r[_SINCE] <= version]
            present = {key for r in kept for key in r}
            fields = [pa.field(c.name, c.type) for c in spec.columns if c.name in present]
            tables.append(pa.Table.from_pylist(kept, schema=pa.schema(fields)))
        return tables


class _Builder:
    """Draws containers top-down so children are consistent with their parents."""

    def __init__(
        self, rng: random.Random, group: str, project_id: str, created: Sequence[datetime]
    ) -> None:
        self.rng = rng
        self.parents = {"parents.group": group, "parents.project": project_id}
        self.created = created
        self.world = World()

    def add(self, table: str, record: Record) -> Record:
        self.world.records.setdefault(table, []).append(record)
        return record

    def window(self, version: int) -> tuple[datetime, datetime]:
        """When containers first seen in ``version`` were acquired."""
        lo = self.created[version - 1] if version else self.created[0] - timedelta(days=300)
        return lo, self.created[version] - timedelta(days=1)

    def subject(self, index: int) -> Record:
        rng = self.rng
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
        return self.add(
            "subjects",
            {
                _SINCE: 0,
                "id": hex_id(rng),
                "label": f"sub-{index + 1:03d}",
                **self.parents,
                "sex": _text(rng, index, ("male", "female", "other")),
                "cohort": rng.choice(("Control", "Study", None)),
                "species": "human",
                "birth_date": None if index == 2 else birth,
                "enrolled": _flag(rng, index),
                "tags": _tags(rng, index),
                "info": _info({"site": rng.choice(("BOS", "NYC")), "consent": index % 3 != 0}),
                "created": _between(rng, *self.window(0)) - timedelta(days=60),
            },
        )

    def session(self, subject: Record, visit: int, version: int, index: int) -> Record:
        rng = self.rng
        when = None if index == 2 else _between(rng, *self.window(version))
        local = (when + _LOCAL_OFFSET).replace(tzinfo=None) if when else None
        birth = subject["birth_date"]
        age = 0  # writer quirk: a missing integer is written as 0
        if when and birth:
            age = int((when - datetime.combine(birth, time(), UTC)).total_seconds())
        return self.add(
            "sessions",
            {
                _SINCE: version,
                "id": hex_id(rng),
                "label": f"ses-{visit:02d}",
                **self.parents,
                "parents.subject": subject["id"],
                "timestamp": when,
                "timestamp_local": local,
                "session_date": local.date() if local else None,
                "age": age,
                "visit": visit,
                "weight": None if index == 3 else _cents(rng.randrange(4_500, 11_000)),
                "bmi": None if index == 3 else round(rng.uniform(17.0, 35.0), 3),
                "completed": _flag(rng, index),
                "operator": _text(rng, index, ("alice", "bob", "carol")),
                "tags": _tags(rng, index),
                "info": _info({"scanner": {"field_strength": 3, "vendor": "GE"}, "run": visit}),
                "created": when or _between(rng, *self.window(version)),
            },
        )

    def acquisition(self, session: Record, modality: str, number: int, index: int) -> Record:
        rng = self.rng
        start = session["timestamp"] or session["created"]
        label = rng.choice(_MR_SERIES)[0] if modality == "MR" else "CT head"
        return self.add(
            "acquisitions",
            {
                _SINCE: session[_SINCE],
                "id": hex_id(rng),
                "label": f"{number} - {label}",
                **self.parents,
                "parents.subject": session["parents.subject"],
                "parents.session": session["id"],
                "modality": modality,
                "timestamp": start + timedelta(minutes=7 * number),
                "uid": f"1.2.840.113619.2.{rng.randrange(10**6)}.{rng.randrange(10**9)}",
                "series_number": number,
                "tags": _tags(rng, index),
                "info": _info({"SeriesDescription": label}),
                "created": start + timedelta(minutes=7 * number, seconds=30),
            },
        )

    def file(self, parent: Record, parent_type: str, name: str, kind: str, index: int) -> Record:
        """A file under an acquisition or an analysis (``parents.*`` down to its parent)."""
        rng = self.rng
        size = rng.randrange(1_000, 400_000_000)
        modality = parent.get("modality") if kind in ("dicom", "nifti") else None
        intent, measurement = ([], [])
        if modality == "MR":
            series = next((s for s in _MR_SERIES if s[0] in parent["label"]), _MR_SERIES[0])
            intent, measurement = [series[1]], [series[2]]
        elif modality == "CT":
            intent = ["Structural"]
        version = 2 if rng.random() < 0.2 else 1
        return self.add(
            "files",
            {
                _SINCE: parent[_SINCE],
                "id": hex_id(rng),
                "file_id": hex_id(rng),
                "version": version,
                "name": name,
                **self.parents,
                "parents.subject": parent["parents.subject"],
                "parents.session": parent["parents.session"],
                "parents.acquisition": parent["id"] if parent_type == "acquisition" else None,
                "parents.analysis": parent["id"] if parent_type == "analysis" else None,
                "parent_ref.id": parent["id"],
                "parent_ref.type": parent_type,
                "type": kind,
                "modality": modality,
                "size": size,
                "size_mb": _cents(size // 10_000),
                "hash": f"{rng.getrandbits(128):032x}",
                "classification.Intent": intent,
                "classification.Measurement": measurement,
                "classification.Custom": _tags(rng, index),
                "info": _info({"qc": {"passed": rng.random() < 0.9}} if kind == "dicom" else {}),
                "created": parent["created"] + timedelta(minutes=2),
                "modified": parent["created"] + timedelta(minutes=2, seconds=version * 3600),
            },
        )

    def analysis(self, session: Record, index: int) -> Record:
        rng = self.rng
        name, gear_version, category = rng.choice(_GEARS)
        created = session["created"] + timedelta(hours=6, seconds=rng.randrange(3600))
        return self.add(
            "analyses",
            {
                _SINCE: session[_SINCE],
                "id": hex_id(rng),
                "label": f"{name} {created:%m/%d/%Y %H:%M:%S}",
                **self.parents,
                "parents.subject": session["parents.subject"],
                "parents.session": session["id"],
                "parent.id": session["id"],
                "parent.type": "session",
                "gear_info.name": name,
                "gear_info.version": gear_version,
                "gear_info.category": category,
                "job_id": hex_id(rng),
                "duration": round(rng.uniform(30.0, 7200.0), 2),
                "tags": _tags(rng, index),
                "info": _info({"gear": name, "exit_code": 0}),
                "created": created,
            },
        )

    def conditions(self, source: Record, trials: int, with_rt: bool) -> list[Record]:
        """One tabular-data source file; ``with_rt`` adds the column the other file lacks."""
        rng = self.rng
        rows = []
        for trial in range(trials):
            row = {
                _SINCE: source[_SINCE],
                **self.parents,
                "parents.subject": source["parents.subject"],
                "parents.session": source["parents.session"],
                "parents.acquisition": source["parents.acquisition"],
                "parents.file": source["file_id"],
                "trial": trial + 1,
                "condition": rng.choice(("congruent", "incongruent", "neutral")),
                "onset": round(trial * 4.0 + rng.uniform(0.0, 0.5), 3),
                "duration": 2.0,
            }
            if with_rt:
                row["response_time"] = round(rng.uniform(0.3, 1.2), 3)
            rows.append(row)
        return rows


def build_world(
    rng: random.Random,
    *,
    subjects: int,
    versions: int,
    group: str,
    project_id: str,
    created: Sequence[datetime],
) -> World:
    """Generate every container of the newest version, oldest containers first."""
    b = _Builder(rng, group, project_id, created)
    people = [b.subject(i) for i in range(subjects)]
    sessions: list[Record] = []
    for version in range(versions):
        for i, person in enumerate(people):
            # Version 0 has one or two sessions per subject; each later one adds one more.
            first = 1 + i % 2
            visits = range(1, first + 1) if version == 0 else [first + version]
            sessions += [b.session(person, v, version, len(sessions)) for v in visits]
    acquisitions: list[Record] = []
    for s_index, session in enumerate(sessions):
        # Every session has an MR and a CT series, so both partitions are never empty.
        count = 2 + b.rng.randrange(2)
        modalities = ["MR", "CT", b.rng.choice(("MR", "CT"))][:count]
        for number, modality in enumerate(modalities, start=1):
            acq = b.acquisition(session, modality, number, len(acquisitions))
            acquisitions.append(acq)
            b.file(acq, "acquisition", f"{number}_{modality}.dicom.zip", "dicom", s_index)
            if modality == "MR":
                b.file(acq, "acquisition", f"{number}_{modality}.nii.gz", "nifti", s_index + 1)
        if s_index == 0 or b.rng.random() < 0.5:
            analysis = b.analysis(session, s_index)
            b.file(analysis, "analysis", "report.html", "html", s_index)
    # Two task runs exported as CSV: the first and the last acquisition of version 0.
    first_sources = [a for a in acquisitions if a[_SINCE] == 0]
    sources = [
        b.file(acq, "acquisition", "conditions.csv", "tabular data", 2)
        for acq in (first_sources[0], first_sources[-1])
    ]
    b.world.tabular["conditions"] = [
        b.conditions(sources[0], 12, with_rt=False),
        b.conditions(sources[1], 10, with_rt=True),
    ]
    b.world.records["scratch"] = [{_SINCE: 0, "x": x} for x in range(3)]
    return b.world
