"""Table definitions of the demo dataset.

One ``Column`` list per table yields both the Arrow schema of the parquet files and
the JSON-schema file, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flight_server.catalog.json_schema import json_schema_type

UTC_TS = pa.timestamp("us", tz="UTC")
NAIVE_TS = pa.timestamp("us")
DECIMAL = pa.decimal128(10, 2)
STRINGS = pa.list_(pa.string())


@dataclass(frozen=True)
class Column:
    """One column: its Arrow type and the words a client sees as remarks."""

    name: str
    type: pa.DataType
    title: str
    description: str
    # Writers describe some nullable columns as ``["string", "null"]``; readers must cope.
    null_in_schema: bool = False
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns, how its files are organised and how it is described."""

    name: str
    description: str
    columns: tuple[Column, ...]
    # Column stored as ``key=value/`` folders instead of inside the files.
    partition: str | None = None
    # Tabular-data tables get one file per source file, not 10,000-row chunks.
    tabular: bool = False
    # Extra names in ``required`` that are not columns: readers must not validate.
    required_extra: tuple[str, ...] = ()

    def file_schema(self) -> pa.Schema:
        """The schema inside the parquet files (the partition column lives in folder names)."""
        return pa.schema(
            [pa.field(c.name, c.type) for c in self.columns if c.name != self.partition]
        )

    def required(self) -> list[str]:
        """The ``required`` list as writers emit it."""
        return [c.name for c in self.columns if c.name in _KEY_NAMES] + list(self.required_extra)

    def properties(self) -> dict[str, Any]:
        """JSON-schema ``properties`` describing every column."""
        return {c.name: _json_property(c) for c in self.columns}


_KEY_NAMES = {"id", "label", "file_id", "parents.group", "parents.project"}


def _json_property(column: Column) -> dict[str, Any]:
    prop = json_schema_type(column.type)
    if column.null_in_schema:
        prop["type"] = [prop["type"], "null"]
    prop["title"] = column.title
    prop["description"] = column.description
    if column.enum:
        prop["enum"] = list(column.enum)
    return prop


def _parents(*levels: str) -> tuple[Column, ...]:
    return tuple(
        Column(f"parents.{level}", pa.string(), f"Parent {level}", f"Id of the parent {level}")
        for level in levels
    )


def _common(kind: str) -> tuple[Column, ...]:
    return (
        Column("id", pa.string(), "ID", f"Flywheel id of the {kind}"),
        Column("label", pa.string(), "Label", f"Label of the {kind}"),
    )


_TAGS = Column("tags", STRINGS, "Tags", "Tags attached in Flywheel", null_in_schema=True)
_INFO = Column("info", pa.string(), "Custom info", "Custom information, as a JSON document")
_CREATED = Column("created", UTC_TS, "Created", "When the container was created")

SUBJECTS = TableSpec(
    name="subjects",
    description="Subjects of the project",
    columns=(
        *_common("subject"),
        *_parents("group", "project"),
        Column(
            "sex",
            pa.string(),
            "Sex",
            "Sex at birth; NULL or empty when unknown",
            null_in_schema=True,
            enum=("male", "female", "other", ""),
        ),
        Column("cohort", pa.string(), "Cohort", "Study arm", enum=("Control", "Study")),
        Column("species", pa.string(), "Species", "Species of the subject"),
        Column("birth_date", pa.date32(), "Birth date", "Date of birth", null_in_schema=True),
        Column("enrolled", pa.bool_(), "Enrolled", "Still enrolled; NULL when not recorded"),
        _TAGS,
        _INFO,
        _CREATED,
    ),
    required_extra=("code",),
)

SESSIONS = TableSpec(
    name="sessions",
    description="Imaging sessions; one row per session",
    columns=(
        *_common("session"),
        *_parents("group", "project", "subject"),
        Column("timestamp", UTC_TS, "Timestamp", "Session start (UTC)", null_in_schema=True),
        Column("timestamp_local", NAIVE_TS, "Local time", "Session start, scanner wall clock"),
        Column("session_date", pa.date32(), "Date", "Calendar date of the session (local)"),
        Column("age", pa.int64(), "Age", "Age in seconds at the session; 0 when unknown"),
        Column("visit", pa.int32(), "Visit", "Visit number of the subject"),
        Column("weight", DECIMAL, "Weight", "Weight in kg, two decimals"),
        Column("bmi", pa.float64(), "BMI", "Body-mass index"),
        Column("completed", pa.bool_(), "Completed", "Protocol completed; NULL when unknown"),
        Column("operator", pa.string(), "Operator", "Scanner operator; may be NULL or empty"),
        _TAGS,
        _INFO,
        _CREATED,
    ),
)

ACQUISITIONS = TableSpec(
    name="acquisitions",
    description="Acquisitions, partitioned by modality",
    columns=(
        *_common("acquisition"),
        *_parents("group", "project", "subject", "session"),
        Column("modality", pa.string(), "Modality", "Imaging modality", enum=("MR", "CT")),
        Column("timestamp", UTC_TS, "Timestamp", "Acquisition start (UTC)"),
        Column("uid", pa.string(), "Series UID", "DICOM SeriesInstanceUID"),
        Column("series_number", pa.int32(), "Series number", "DICOM SeriesNumber"),
        _TAGS,
        _INFO,
        _CREATED,
    ),
    partition="modality",
)

FILES = TableSpec(
    name="files",
    description="Files attached to acquisitions and analyses",
    columns=(
        Column("id", pa.string(), "ID", "Id of this file version"),
        Column("file_id", pa.string(), "File ID", "Id shared by all versions of the file"),
        Column("version", pa.int32(), "Version", "File version number"),
        Column("name", pa.string(), "Name", "File name"),
        *_parents("group", "project", "subject", "session", "acquisition", "analysis"),
        Column("parent_ref.id", pa.string(), "Parent id", "Id of the direct parent"),
        Column("parent_ref.type", pa.string(), "Parent type", "Container type of the parent"),
        Column("type", pa.string(), "Type", "Flywheel file type"),
        Column("modality", pa.string(), "Modality", "Modality; NULL for non-imaging files"),
        Column("size", pa.int64(), "Size", "Size in bytes"),
        Column("size_mb", DECIMAL, "Size (MB)", "Size in megabytes, two decimals"),
        Column("hash", pa.string(), "Hash", "Content hash"),
        Column("classification.Intent", STRINGS, "Intent", "Classification: intent"),
        Column("classification.Measurement", STRINGS, "Measurement", "Classification: measure"),
        Column("classification.Custom", STRINGS, "Custom", "Custom classification labels"),
        _INFO,
        _CREATED,
        Column("modified", UTC_TS, "Modified", "When the file was last modified"),
    ),
)

ANALYSES = TableSpec(
    name="analyses",
    description="Gear analyses run on sessions",
    columns=(
        *_common("analysis"),
        *_parents("group", "project", "subject", "session"),
        Column("parent.id", pa.string(), "Parent id", "Id of the analysed container"),
        Column("parent.type", pa.string(), "Parent type", "Type of the analysed container"),
        Column("gear_info.name", pa.string(), "Gear", "Gear name"),
        Column("gear_info.version", pa.string(), "Gear version", "Gear version"),
        Column("gear_info.category", pa.string(), "Gear category", "Gear category"),
        Column("job_id", pa.string(), "Job", "Id of the job that produced the analysis"),
        Column("duration", pa.float64(), "Duration", "Job run time in seconds"),
        _TAGS,
        _INFO,
        _CREATED,
    ),
)

_CONDITION_PARENTS = _parents("group", "project", "subject", "session", "acquisition", "file")

# Tabular-data table: the second source file adds ``response_time``.
CONDITIONS = TableSpec(
    name="conditions",
    description="Table derived from Tabular Data File: conditions.csv",
    columns=(
        *_CONDITION_PARENTS,
        Column("trial", pa.int64(), "Trial", "Trial number"),
        Column("condition", pa.string(), "Condition", "Task condition"),
        Column("onset", pa.float64(), "Onset", "Onset in seconds"),
        Column("duration", pa.float64(), "Duration", "Duration in seconds"),
        Column("response_time", pa.float64(), "RT", "Response time; only in the second file"),
    ),
    tabular=True,
)

# Custom-info table that happened to have no rows in this project.
QC_RESULTS = TableSpec(
    name="qc_results",
    description="Quality-control results from file custom info (none yet)",
    columns=(
        *_CONDITION_PARENTS,
        Column("qc.passed", pa.bool_(), "Passed", "QC verdict"),
        Column("qc.score", pa.float64(), "Score", "QC score"),
        Column("qc.checked", UTC_TS, "Checked", "When QC ran"),
    ),
)

# Described (schema file and description entry) but never written: must not be exposed.
HEADER_DICOM = TableSpec(
    name="header_dicom",
    description="DICOM header fields (schema only, no data)",
    columns=(
        *_parents("group", "project", "file"),
        Column("PatientID", pa.string(), "PatientID", "DICOM PatientID"),
    ),
)

# Written to ``tables/`` without any description: must not be exposed.
SCRATCH = TableSpec(
    name="scratch",
    description="Left-over folder nobody described",
    columns=(Column("x", pa.int64(), "x", "x"),),
)

SCAN = TableSpec(
    name="scan",
    description="Synthetic mixed-type table for benchmarks",
    columns=(
        Column("id", pa.int64(), "ID", "Row number"),
        Column("bucket", pa.int32(), "Bucket", "Random group in [0, 1000)"),
        Column("value", pa.float64(), "Value", "Normal random value; ~1% NULL"),
        Column("flag", pa.bool_(), "Flag", "Random boolean"),
        Column("category", pa.string(), "Category", "One of a few category names"),
        Column("label", pa.string(), "Label", "Unique text label"),
        Column("ts", UTC_TS, "Timestamp", "One second per row from 2025-01-01 UTC"),
        Column("tags", STRINGS, "Tags", "Zero to three tags"),
    ),
)
