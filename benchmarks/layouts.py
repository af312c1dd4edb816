"""10. Copy layouts for lookups (issue 17's second lever), measured on DuckDB alone: one
parent's rows looked up by its id in a copy stored as the table cache stores copies (a
table in an attached DuckDB file), as copied today (parquet's row order), sorted by the id,
and with an ART index on it.

Two sizes: the Flywheel-style files table the small-query benchmark reads (a session's
files), and a synthetic table of ``rows`` rows whose key has a fifth as many values, so
every lookup finds about five rows. Each lookup is a new text (DuckDB caches no plans
anyway); the median of ``LOOKUPS`` per layout, taking turns.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from benchmarks.data import flywheel_tables
from benchmarks.harness import Section
from benchmarks.small import session_ids

LOOKUPS = 200
LAYOUTS = ("as copied", "sorted by the key", "ART index on the key")
#: The synthetic table's key: as long as a Flywheel id, about five rows per value.
SYNTHETIC = (
    "SELECT 'file-' || i AS id, 'scan-' || i || '.dcm' AS name, i * 7 % 100000 AS size, "
    "lpad(((i * 7919) % {keys})::VARCHAR, 24, '0') AS \"parents.session\" FROM range({rows}) t(i)"
)
LOOKUP = "SELECT id, name, size FROM {table} WHERE \"parents.session\" = '{key}' AND {n} = {n}"


def run(rows: int) -> Section:
    section = Section(
        f"10. Copy layouts for one parent's rows, in-process DuckDB over a DuckDB file "
        f"(median of {LOOKUPS} lookups, in turns, ms)"
    )
    tables = flywheel_tables(rows // 200)
    listed = ", ".join(f"'{path}'" for path in tables["files"].files)
    flywheel = f"SELECT * FROM read_parquet([{listed}])"
    keys = session_ids(tables["sessions"].files)
    synthetic_keys = [f"{(n * 104729) % (rows // 5):024d}" for n in range(200)]
    cases = [
        (f"files table, {len(keys)} sessions looked up", flywheel, keys),
        (f"{rows:,} rows", SYNTHETIC.format(rows=rows, keys=rows // 5), synthetic_keys),
    ]
    with tempfile.TemporaryDirectory(prefix="fw-layouts-") as scratch:
        for index, (label, source, lookup_keys) in enumerate(cases):
            connection = duckdb.connect()
            copies = Path(scratch) / f"copies-{index}.duckdb"
            connection.execute(f"ATTACH '{copies}' AS copies")
            seconds, copy_bytes, index_bytes = _copies(connection, source)
            medians = _lookups(connection, lookup_keys)
            count = connection.execute("SELECT count(*) FROM copies.t0").fetchone()[0]
            section.figures[f"{label}: rows"] = int(count)
            section.figures[f"{label}: lookup ms, " + " / ".join(LAYOUTS)] = " / ".join(
                f"{medians[layout]:.2f}" for layout in LAYOUTS
            )
            section.figures[f"{label}: build s, " + " / ".join(LAYOUTS)] = " / ".join(
                f"{seconds[layout]:.1f}" for layout in LAYOUTS
            )
            section.figures[f"{label}: copy / its index, MB on disk"] = (
                f"{copy_bytes / 1e6:.0f} / {index_bytes / 1e6:.0f}"
            )
            section.figures[f"{label}: as copied / ART index"] = round(
                medians[LAYOUTS[0]] / medians[LAYOUTS[2]], 1
            )
            connection.close()
    return section


def _copies(
    connection: duckdb.DuckDBPyConnection, source: str
) -> tuple[dict[str, float], int, int]:
    """One copy per layout (``copies.t0`` .. ``t2``): the seconds each took, and the bytes of
    a copy and of the index, from the file's growth at each checkpoint."""
    key = '"parents.session"'
    steps: list[Callable[[], object]] = [
        lambda: connection.execute(f"CREATE TABLE copies.t0 AS {source}"),
        lambda: connection.execute(f"CREATE TABLE copies.t1 AS {source} ORDER BY {key}"),
        lambda: (
            connection.execute(f"CREATE TABLE copies.t2 AS {source}"),
            connection.execute(f"CREATE INDEX by_key ON copies.t2({key})"),
        ),
    ]
    seconds: dict[str, float] = {}
    sizes = []
    for layout, step in zip(LAYOUTS, steps, strict=True):
        started = time.perf_counter()
        step()
        connection.execute("CHECKPOINT copies")
        seconds[layout] = time.perf_counter() - started
        row = connection.execute(
            "SELECT used_blocks * block_size FROM pragma_database_size() "
            "WHERE database_name = 'copies'"
        ).fetchone()
        sizes.append(int(row[0]))
    copy_bytes = sizes[0]
    return seconds, copy_bytes, sizes[2] - sizes[1] - copy_bytes


def _lookups(connection: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, float]:
    """Median ms of a lookup per layout, the layouts taking turns, each a fresh cursor."""
    times: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    numbers = itertools.count()
    for key in itertools.islice(itertools.cycle(keys), LOOKUPS + 10):
        for number, layout in enumerate(LAYOUTS):
            cursor = connection.cursor()
            sql = LOOKUP.format(table=f"copies.t{number}", key=key, n=next(numbers))
            started = time.perf_counter()
            cursor.sql(sql).to_arrow_table()
            times[layout].append(time.perf_counter() - started)
            cursor.close()
    return {layout: statistics.median(values[10:]) * 1e3 for layout, values in times.items()}
