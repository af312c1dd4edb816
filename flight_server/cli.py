"""The ``fw-flight-sql`` command."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import signal
import sys
import threading
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import click

from flight_server import __version__
from flight_server.config import CONFIG_ENV, ConfigError, Settings, load_settings
from flight_server.logs import configure_logging
from flight_server.messages import fail, first_line

if TYPE_CHECKING:
    from flight_server.service import Service

log = logging.getLogger(__name__)


def _parse_dataset(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[dict] | None:
    """``NAME=LOCATION`` pairs from ``--dataset``; a local root must exist (a typo, surely)."""
    parsed = []
    for value in values:
        name, sep, location = value.partition("=")
        if not sep or not name or not location:
            raise click.BadParameter(f"expected NAME=LOCATION, got {value!r}")
        root = _local_root(location)
        if root is not None and not root.exists():
            fail(f"--dataset {name}: {root} does not exist", code=2)
        parsed.append({"name": name, "location": location})
    return parsed or None


def _local_root(location: str) -> Path | None:
    """The directory a local location names; None for object storage URLs."""
    if location.startswith("file://"):
        return Path(location.removeprefix("file://").split("?", 1)[0])
    return None if "://" in location else Path(location)


def _parse_options(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """``KEY=VALUE`` pairs from ``--option``."""
    parsed = {}
    for value in values:
        key, sep, option = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {key!r}")
        parsed[key] = option
    return parsed


# The server's settings file; ``export`` reads the same one to find what it exports.
_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help="YAML or TOML settings file.",
)
# ``serve`` and ``export`` name datasets the same way.
_dataset_option = click.option(
    "--dataset",
    "datasets",
    multiple=True,
    callback=_parse_dataset,
    help="A dataset, NAME=LOCATION (a path or file://, s3://, gs://, az:// URL).",
)
_catalog_option = click.option(
    "--catalog",
    "local_catalog",
    default=None,
    help="Catalog name for datasets given here (default 'local').",
)


#: Commands other parts of the distribution add (the client's ``query`` and ``datasets``):
#: the server never imports the client, and a command is loaded only when used or listed.
COMMANDS_ENTRY_POINTS = "fw_flight_sql.commands"


class _Commands(click.Group):
    """The server's own commands, plus those declared under ``COMMANDS_ENTRY_POINTS``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_added()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        entry = _added().get(cmd_name)
        return command if command is not None or entry is None else _load(entry)


def _added() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=COMMANDS_ENTRY_POINTS)}


def _load(entry: EntryPoint) -> click.Command:
    """The command, or one saying which extra to install when its imports are missing."""
    try:
        return entry.load()
    except ImportError:
        extras = ",".join(entry.extras)

        @click.command(
            entry.name,
            help=f"(needs the '{extras}' extra)",
            context_settings={"ignore_unknown_options": True},
            add_help_option=False,
        )
        @click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
        def missing(ignored: tuple[str, ...]) -> None:
            fail(f"the client needs the '{extras}' extra: pip install 'fw-flight-sql[{extras}]'")

        return missing


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="fw-flight-sql")
def main() -> None:
    """Serve Flywheel datasets as a live Arrow Flight SQL database."""


@main.command()
@_config_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Flight port (default 32010).")
@click.option(
    "--ops-port",
    type=int,
    default=None,
    help="HTTP port for /healthz, /readyz and /metrics (default 9090; 0 picks a free port).",
)
@_dataset_option
@_catalog_option
def serve(config_file: Path | None, **flags: object) -> None:
    """Serve the configured datasets until SIGTERM or Ctrl-C, then drain."""
    try:
        settings = load_settings(config_file, **flags)
    except ConfigError as exc:
        fail(f"invalid configuration: {exc}", code=2)
    configure_logging(settings.log_format, settings.log_level)
    # Imported only now, so --help and configuration errors answer fast.
    from flight_server.service import StartupError

    try:
        run_server(settings)
    except StartupError as exc:
        fail(f"cannot start: {exc}", code=1)


@main.command("hash-password")
def hash_password_command() -> None:
    """Prompt for a password and print its hash for auth.users.<name>.password_hash."""
    from flight_server.auth import hash_password

    password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    click.echo(hash_password(password))


@main.command("export")
@click.argument("ref")
@click.option(
    "--to", "url", required=True, help="Where to write: a path or s3://, gs://, az:// URL."
)
@click.option(
    "--option",
    "options",
    multiple=True,
    callback=_parse_options,
    help="Storage option for --to, KEY=VALUE (e.g. endpoint_url=http://...).",
)
@click.option("--rows-per-file", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@_config_option
@_dataset_option
@_catalog_option
def export_command(
    ref: str,
    url: str,
    options: dict[str, str],
    rows_per_file: int,
    config_file: Path | None,
    **flags: object,
) -> None:
    """Export a federated dataset or a dataset (name or catalog.name) to URL/<YYYYmmdd-HHMMSS>/.

    The datasets are those of --config, or given here with --dataset as for ``serve``.
    """
    try:
        settings = load_settings(config_file, **flags)
    except ConfigError as exc:
        fail(f"invalid configuration: {exc}", code=2)
    configure_logging(settings.log_format, settings.log_level)
    from flight_server.engine import QueryError
    from flight_server.export import ExportError, export
    from flight_server.runtime import Runtime
    from flight_server.storage import StorageError, parse_location

    try:
        target = parse_location(url, options)
        # An export reads each table once: copying them into the table cache would only cost.
        engine = settings.engine.model_copy(update={"cache_bytes": None})
        runtime = Runtime(settings.model_copy(update={"engine": engine}))
        runtime.refresh()
        provenance = export(runtime, ref, target, rows_per_file=rows_per_file)
    except (ExportError, QueryError, StorageError, OSError, ValueError) as exc:
        fail(f"export failed: {first_line(exc)}", code=1)
    for table, counts in provenance["tables"].items():
        click.echo(
            f"{table}: {counts['rows_in']:,} rows in, {counts['duplicates_dropped']:,} "
            f"duplicates dropped, {counts['rows_out']:,} rows written"
        )
    click.echo(f"exported {ref} to {provenance['output']}")


def run_server(settings: Settings) -> None:
    """Start the server, block until SIGTERM or SIGINT, then shut down gracefully.

    Running queries get ``shutdown_grace_seconds`` to finish; then they are cancelled. A
    server that still cannot stop is ended hard, so the process never outlives its pod.
    """
    from flight_server.auth.setup import anonymous_enabled
    from flight_server.service import Service

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    service = Service(settings)
    log.info("fw-flight-sql %s listening on %s", __version__, service.uri)
    # A first query to paste, where one works without credentials (``make run``'s server).
    hint = _query_hint(service) if anonymous_enabled(settings) and not settings.tls else None
    if hint:
        log.info("try it: %s", hint)
    stop.wait()
    if service.stop(settings.shutdown_grace_seconds):
        log.info("shutdown complete")
        return
    log.error("queries did not stop after cancellation; exiting anyway")
    logging.shutdown()
    os._exit(1)


def _query_hint(service: Service) -> str | None:
    """A command to paste into another terminal: the first rows of one served table."""
    served = sorted(service.runtime.snapshot.datasets, key=lambda d: (d.catalog, d.name))
    for dataset in served:
        if dataset.latest.tables:
            table = min(dataset.latest.tables)
            name = ".".join(_sql_name(part) for part in (dataset.catalog, dataset.name, table))
            sql = f"SELECT * FROM {name} LIMIT 10"
            return shlex.join([_program(), "query", "--uri", service.uri, sql])
    return None


def _sql_name(part: str) -> str:
    return part if re.fullmatch(r"[a-z_][a-z0-9_]*", part) else '"' + part.replace('"', '""') + '"'


def _program() -> str:
    """How to run this command again: its name when PATH finds this very program."""
    invoked = sys.argv[0]
    found = shutil.which("fw-flight-sql")
    if found and os.path.realpath(found) == os.path.realpath(invoked):
        return "fw-flight-sql"
    return invoked
