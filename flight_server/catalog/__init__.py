"""Catalog: what datasets exist, their versions and tables, as plain typed objects."""

from flight_server.catalog.model import Dataset, Table, Version

__all__ = ["Dataset", "Table", "Version"]
