"""Import every backend module so each registers its opener."""

from flight_server.storage import local  # noqa: F401
