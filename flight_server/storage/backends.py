"""Import every backend module so each registers its opener."""

from flight_server.storage import azure, gcs, local, s3  # noqa: F401
