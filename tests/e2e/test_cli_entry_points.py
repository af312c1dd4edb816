"""The client's commands join ``fw-flight-sql`` by entry point; the server never imports them."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from flight_server.cli import main

# Runs the command line in a fresh interpreter where the Flight SQL driver (the `client`
# extra) cannot be imported, as in a server-only install.
_WITHOUT_DRIVER = (
    "import sys; sys.modules['adbc_driver_flightsql'] = None; "
    "from flight_server.cli import main; main(sys.argv[1:])"
)


def _without_driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_DRIVER, *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_client_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:", 1)[1]
    for command in ("datasets", "export", "hash-password", "query", "serve"):
        assert f"  {command} " in listed


def test_serving_never_loads_the_client() -> None:
    code = (
        "import sys; from flight_server.cli import main; "
        "sys.argv = ['fw-flight-sql', 'serve', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'fw_flight'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_a_client_command_without_the_client_extra_says_what_to_install() -> None:
    result = _without_driver("query", "SELECT 1", "--uri", "grpc://127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "fw-flight-sql: the client needs the 'client' extra: pip install 'fw-flight-sql[client]'"
    )
    listing = _without_driver("--help")
    assert listing.returncode == 0 and "serve" in listing.stdout
