"""Export a federated or plain dataset to storage as a timestamped, servable dataset version."""

from flight_server.export.run import ExportError, export

__all__ = ["ExportError", "export"]
