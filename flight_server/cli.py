"""The ``fw-flight-sql`` command."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

import click

from flight_server import __version__
from flight_server.config import CONFIG_ENV, ConfigError, Settings, load_settings
from flight_server.logs import configure_logging

log = logging.getLogger(__name__)


def _parse_dataset(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[dict] | None:
    """``NAME=LOCATION`` pairs from ``--dataset``."""
    parsed = []
    for value in values:
        name, sep, location = value.partition("=")
        if not sep or not name or not location:
            raise click.BadParameter(f"expected NAME=LOCATION, got {value!r}")
        parsed.append({"name": name, "location": location})
    return parsed or None


@click.group()
@click.version_option(__version__, prog_name="fw-flight-sql")
def main() -> None:
    """Serve Flywheel datasets as a live Arrow Flight SQL database."""


@main.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help="YAML or TOML settings file.",
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Flight port (default 32010).")
@click.option(
    "--ops-port",
    type=int,
    default=None,
    help="HTTP port for /healthz, /readyz and /metrics (default 9090; 0 picks a free port).",
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    callback=_parse_dataset,
    help="Serve a dataset: NAME=LOCATION (a path or file://, s3://, gs://, az:// URL).",
)
@click.option(
    "--catalog",
    "local_catalog",
    default=None,
    help="Catalog name for datasets given here (default 'local').",
)
def serve(config_file: Path | None, **flags: object) -> None:
    """Serve the configured datasets until SIGTERM or Ctrl-C, then drain."""
    try:
        settings = load_settings(config_file, **flags)
    except ConfigError as exc:
        _fail(f"invalid configuration: {exc}", code=2)
    configure_logging(settings.log_format, settings.log_level)
    # Imported only now, so --help and configuration errors answer fast.
    from flight_server.service import StartupError

    try:
        run_server(settings)
    except StartupError as exc:
        _fail(f"cannot start: {exc}", code=1)


def run_server(settings: Settings) -> None:
    """Start the server, block until SIGTERM or SIGINT, then shut down gracefully.

    Running queries get ``shutdown_grace_seconds`` to finish; then they are cancelled. A
    server that still cannot stop is ended hard, so the process never outlives its pod.
    """
    from flight_server.service import Service

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    service = Service(settings)
    log.info("fw-flight-sql %s listening on %s", __version__, service.uri)
    stop.wait()
    if service.stop(settings.shutdown_grace_seconds):
        log.info("shutdown complete")
        return
    log.error("queries did not stop after cancellation; exiting anyway")
    logging.shutdown()
    os._exit(1)


def _fail(message: str, code: int) -> NoReturn:
    """One readable line on stderr and a non-zero exit: no traceback for operator mistakes."""
    click.echo(f"fw-flight-sql: {message}", err=True)
    sys.exit(code)
