"""``fw-flight-sql query`` and ``datasets``: a command-line client built on ``fw_flight``.

Results stream batch by batch to the output, so a large result never sits in memory
(the ``table`` format shows the first rows only). Failures are one line and exit 1, and
leave no partial ``--output`` file; a reader that closes the pipe early (``| head``) ends
the command quietly. The server never imports the client: these commands join
``fw-flight-sql`` through the ``fw_flight_sql.commands`` entry points (pyproject.toml).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from flight_server.messages import fail, first_line
from fw_flight.client import connect

#: Rows the ``table`` format shows; the rest are counted, not printed.
TABLE_ROWS = 1000
FORMATS = ("table", "csv", "json", "parquet")


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The server address and credentials every client command takes."""
    options = [
        click.option(
            "--uri",
            envvar="FW_FLIGHT_SQL_URI",
            default="grpc://127.0.0.1:32010",
            show_default=True,
            help="Server address (grpc:// or grpc+tls://).",
        ),
        click.option("--token", envvar="FW_FLIGHT_SQL_TOKEN", help="Bearer token."),
        click.option("--api-key", envvar="FW_FLIGHT_SQL_API_KEY", help="Flywheel API key."),
        click.option("--username", help="User name (with --password)."),
        click.option("--password", envvar="FW_FLIGHT_SQL_PASSWORD", help="Password."),
        click.option(
            "--tls-root-cert",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="CA certificate (PEM) to trust for grpc+tls://.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@click.argument("sql")
@connection_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output (required for parquet).",
)
def query(sql: str, fmt: str, output: Path | None, **connection: Any) -> None:
    """Run SQL on a server and print or save the result."""
    if fmt == "parquet" and output is None:
        fail("--format parquet needs --output FILE", code=2)
    with _client(connection) as client:
        try:
            reader = client.execute(sql).reader()
            with _sink(output) as sink:
                rows = _WRITERS[fmt](reader, sink, _RowCounter())
        except Exception as exc:  # every driver and server failure: one readable line
            if _closed_pipe(exc):
                _quiet_exit()
            fail(f"query failed: {first_line(exc)}")
    if output is not None:
        click.echo(f"{rows:,} rows written to {output}", err=True)


@click.command()
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
def datasets(as_json: bool, **connection: Any) -> None:
    """List served and federated datasets, and configured ones that were skipped and why."""
    with _client(connection) as client:
        try:
            listing = client.datasets_status()
        except Exception as exc:
            fail(f"cannot list datasets: {first_line(exc)}")
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    served = [
        (
            d["catalog"],
            d["schema"],
            d["kind"],
            d["versions"],
            d["latest_version"] or "-",
            d["tables"],
            "stale" if d.get("stale") else "ok",
        )
        for d in listing["datasets"]
    ]
    header = ("catalog", "schema", "kind", "versions", "latest", "tables", "state")
    click.echo(_aligned(header, served))
    stale = [
        (d["catalog"], d["schema"], d["stale_reason"])
        for d in listing["datasets"]
        if d.get("stale")
    ]
    if stale:
        click.echo("\nstale (last good load kept; the latest failed):")
        click.echo(_aligned(("catalog", "schema", "reason"), stale))
    problems = [
        (d["catalog"], d["schema"], problem)
        for d in listing["datasets"]
        for problem in d.get("problems", ())
    ]
    if problems:
        click.echo("\nleft out of served datasets:")
        click.echo(_aligned(("catalog", "schema", "problem"), problems))
    if listing["skipped"]:
        click.echo("\nskipped:")
        skipped = [(s["catalog"], s["schema"], s["reason"]) for s in listing["skipped"]]
        click.echo(_aligned(("catalog", "schema", "reason"), skipped))


@contextmanager
def _client(connection: dict[str, Any]) -> Iterator[Any]:
    cert = connection.pop("tls_root_cert")
    try:
        client = connect(
            connection.pop("uri"),
            tls_root_certs=cert.read_text() if cert else None,
            **connection,
        )
    except Exception as exc:
        fail(f"cannot connect: {first_line(exc)}")
    with client:
        yield client


@contextmanager
def _sink(output: Path | None) -> Iterator[BinaryIO]:
    """Standard output, or a file that appears (whole) at ``output`` only on success."""
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    partial = output.with_name(f".{output.name}.partial")
    try:
        handle = partial.open("wb")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    try:
        with handle:
            yield handle
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _closed_pipe(exc: BaseException) -> bool:
    """A reader of standard output went away (``| head``); pyarrow may wrap the error."""
    return isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE


def _quiet_exit() -> None:
    """End without a traceback: Python would fail flushing the closed pipe again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


class _RowCounter:
    """Counts rows as they stream; shows a live count on a terminal, erased when done."""

    def __init__(self) -> None:
        self.rows = 0
        self._live = sys.stderr.isatty()
        self._shown = 0

    def add(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.rows += batch.num_rows
        if self._live:
            text = f"  {self.rows:,} rows"
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()
            self._shown = len(text)
        return batch

    def close(self) -> int:
        if self._live and self._shown:
            # Blank the count, so what is drawn next on the same terminal starts clean.
            sys.stderr.write("\r" + " " * self._shown + "\r")
            sys.stderr.flush()
        return self.rows


def _write_with(
    writer_type: type, flat: bool = False
) -> Callable[[pa.RecordBatchReader, BinaryIO, _RowCounter], int]:
    """A writer for formats pyarrow streams batch by batch (CSV, Parquet).

    ``flat`` formats have no nested values: lists, structs and maps become JSON text.
    """

    def write(reader: pa.RecordBatchReader, sink: BinaryIO, counter: _RowCounter) -> int:
        schema = _flat_schema(reader.schema) if flat else reader.schema
        with writer_type(sink, schema) as writer:
            for batch in reader:
                counter.add(batch)
                writer.write_batch(_flat_batch(batch, schema) if flat else batch)
        return counter.close()

    return write


def _flat_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            field.with_type(pa.string()) if pa.types.is_nested(field.type) else field
            for field in schema
        ]
    )


def _flat_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = [
        _as_json(column) if pa.types.is_nested(column.type) else column for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _as_json(column: pa.Array) -> pa.Array:
    """Each nested value as JSON text (dates, decimals and the like as strings); nulls stay."""
    texts = [
        None if value is None else json.dumps(value, default=str, ensure_ascii=False)
        for value in column.to_pylist()
    ]
    return pa.array(texts, pa.string())


def _write_json(reader: pa.RecordBatchReader, sink: BinaryIO, counter: _RowCounter) -> int:
    """JSON lines: one object per row."""
    for batch in reader:
        for row in counter.add(batch).to_pylist():
            sink.write((json.dumps(row, default=str) + "\n").encode())
    return counter.close()


def _write_table(reader: pa.RecordBatchReader, sink: BinaryIO, counter: _RowCounter) -> int:
    """Aligned text of the first ``TABLE_ROWS`` rows; the rest are only counted."""
    shown: list[tuple[str, ...]] = []
    for batch in reader:
        counter.add(batch)
        for row in batch.slice(0, TABLE_ROWS - len(shown)).to_pylist():
            shown.append(tuple("NULL" if v is None else str(v) for v in row.values()))
    rows = counter.close()
    text = _aligned(tuple(reader.schema.names), shown)
    more = f"\n... {rows - len(shown):,} more rows" if rows > len(shown) else ""
    sink.write(f"{text}{more}\n({rows:,} rows)\n".encode())
    return rows


_WRITERS = {
    "table": _write_table,
    "csv": _write_with(pa_csv.CSVWriter, flat=True),
    "json": _write_json,
    "parquet": _write_with(pq.ParquetWriter),
}


def _aligned(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
