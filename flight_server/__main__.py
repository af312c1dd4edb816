"""``python -m flight_server`` is the ``fw-flight-sql`` command."""

from flight_server.cli import main

main()
