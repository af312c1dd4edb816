"""Synthetic Flywheel datasets: demo data for ``make run``, fixtures for tests, benchmark tables.

``write_dataset`` writes a small dataset full of the layout quirks a reader must
handle; ``write_scan_table`` writes one large table fast. Both return a
``GeneratedDataset`` describing exactly what was written.
"""

from flight_server.demo.generate import DEFAULT_PROJECT_ID, has_dataset, write_dataset
from flight_server.demo.model import (
    LAYOUTS,
    BrokenVersion,
    GeneratedDataset,
    GeneratedTable,
    GeneratedVersion,
    Layout,
)
from flight_server.demo.scan import write_scan_table

__all__ = [
    "DEFAULT_PROJECT_ID",
    "LAYOUTS",
    "BrokenVersion",
    "GeneratedDataset",
    "GeneratedTable",
    "GeneratedVersion",
    "Layout",
    "has_dataset",
    "write_dataset",
    "write_scan_table",
]
