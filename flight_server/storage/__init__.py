"""Storage: turn a dataset location into an fsspec filesystem and a root path.

Nothing above this package knows about s3fs, gcsfs or adlfs.
"""

from flight_server.storage.base import Location, StorageError, open_location, parse_location

__all__ = ["Location", "StorageError", "open_location", "parse_location"]
