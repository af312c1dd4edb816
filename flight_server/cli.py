"""The ``fw-flight-sql`` command."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import click

from flight_server import __version__
from flight_server.config import CONFIG_ENV, Settings, load_settings
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
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help="YAML or TOML settings file.",
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Flight port (default 32010).")
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
    """Serve the configured datasets until interrupted."""
    settings = load_settings(config_file, **flags)
    configure_logging(settings.log_format, settings.log_level)
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Load the datasets, start the Flight server and block until it stops."""
    from flight_server.flightsql.server import FlightSqlServer
    from flight_server.runtime import Runtime

    runtime = Runtime(settings)
    runtime.refresh()
    server = FlightSqlServer(runtime, f"grpc://{settings.host}:{settings.port}")
    log.info(
        "fw-flight-sql %s listening on grpc://%s:%d",
        __version__,
        _display_host(settings.host),
        server.port,
    )
    server.serve()


def _display_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
